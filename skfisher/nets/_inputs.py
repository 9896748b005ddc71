"""Validation of the images and labels given to :class:`~skfisher.nets.ResNet18Classifier`,
and the fitted attributes they determine."""

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    check_random_state,
    column_or_1d,
)

from ..utils._images import check_images


class _InputMixin:
    """``X`` and ``y`` checks of ResNet18Classifier; ``_prepare`` changes nothing."""

    def _validate_X(self, X, *, reset):
        if not reset:
            check_is_fitted(self, "image_shape_")
        images = check_images(X, image_shape=self.image_shape)
        if not reset:
            n_values = int(np.prod(images.shape[1:]))
            if n_values != self.n_features_in_:
                raise ValueError(
                    f"X has {n_values} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input: it was "
                    f"fitted on images of shape {self.image_shape_}, not "
                    f"{images.shape[1:]}."
                )
            if images.shape[1:] != self.image_shape_:
                raise ValueError(
                    f"X has images of shape {images.shape[1:]}, but "
                    f"{type(self).__name__} was fitted on {self.image_shape_}."
                )
        return images

    def _validate_y(self, y, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n_samples), y)
        check_classification_targets(y)
        return y

    def _new_label_encoder(self, y, classes):
        encoder = LabelEncoder()
        if classes is not None:
            encoder.fit(np.asarray(classes))
            unknown = np.setdiff1d(np.unique(y), encoder.classes_)
            if unknown.size:
                raise ValueError(f"y has labels {unknown} not in classes.")
        else:
            encoder.fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y has 1 class ({encoder.classes_[0]!r}); a classifier needs at "
                "least 2 (give all of them with classes=... to train on fewer)."
            )
        return encoder

    def _prepare(self, X, y, *, reset, classes=None):
        """Validate ``X`` and ``y``; return images, encoded labels and the fitted
        attributes to set (none when continuing). Changes nothing."""
        images = self._validate_X(X, reset=reset)
        y = self._validate_y(y, len(images))
        if not reset:
            encoder, state = self.label_encoder_, {}
            if classes is not None and not np.array_equal(
                np.unique(np.asarray(classes)), encoder.classes_
            ):
                raise ValueError(
                    f"classes={classes!r} differs from the classes "
                    f"{encoder.classes_!r} of the first fit."
                )
            unseen = np.setdiff1d(np.unique(y), encoder.classes_)
            if unseen.size:
                raise ValueError(
                    f"y has labels {unseen} unseen at the first fit (classes_ "
                    f"{encoder.classes_!r}); refit from scratch to add classes."
                )
        else:
            encoder = self._new_label_encoder(y, self.classes if classes is None else classes)
            state = {
                "label_encoder_": encoder,
                "image_shape_": images.shape[1:],
                "n_features_in_": int(np.prod(images.shape[1:])),
                "init_seed_": None,
                "shuffle_generator_": None,
            }
            if self.random_state is not None:
                init_seed, shuffle_seed = check_random_state(self.random_state).randint(
                    np.iinfo(np.int32).max, size=2
                )
                state["init_seed_"] = int(init_seed)
                state["shuffle_generator_"] = torch.Generator().manual_seed(int(shuffle_seed))
        return images, encoder.transform(y).astype(np.int64), state
