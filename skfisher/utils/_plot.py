"""Figures drawn without pyplot, so the user's matplotlib backend is never touched."""

import io


def new_figure(**kwargs):
    """A ``matplotlib.figure.Figure`` with its own Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig, dpi=120):
    """The figure as PNG bytes."""
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    return png.getvalue()
