"""Adding a class to a labeling project while labeling, as ``classes`` does at
``create``; committed with one rename of ``project.json``."""

__all__ = ["add_class"]


def add_class(folder, name):
    """Add the class ``name`` to the project in ``folder`` (a :class:`ProjectFolder`);
    see :meth:`LabelingProject.add_class`. Returns the classes, sorted."""
    config = folder.read_config()
    if not isinstance(name, str):
        raise ValueError(f"a class name must be a string; got {name!r}.")
    name = name.strip()
    if not name or any(not ch.isprintable() for ch in name):
        raise ValueError(
            f"a class name must be non-empty printable text; got {name!r}. "
            f"The classes are: {', '.join(config['classes'])}."
        )
    if name in config["classes"]:
        raise ValueError(
            f"class {name!r} already exists; the classes are: {', '.join(config['classes'])}."
        )
    config["classes"] = sorted([*config["classes"], name])
    folder.write_config(config)  # the commit
    return list(config["classes"])
