"""``python -m tf_featuretest`` runs the command line."""
from .cli import main

main()
