"""``python -m tf_featuretest`` runs the command line (TensorFlow's log level is set before it loads)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .cli import main  # noqa: E402

main()
