"""Helpers shared by the service tests: an export of the digits CNN and PNG bytes of an array."""
import io
import os

import numpy as np
from PIL import Image

from tf_featuretest.attacks.feature_space import class_centroids
from tf_featuretest.export import export_attacks, export_classifier
from tf_featuretest.export.artifacts import export_judge
from tf_featuretest.testgen.judge import train_committee

#: feature-space steps of the exported attack the service tests use
SERVE_STEPS = 40


def make_export(model, x_train, y_train, root, *, samples=None):
    """Export classifier + attacks (with feature-space centroids) the way the pipeline does; with
    ``samples = (images, labels)`` also a judge (a label committee trained 2 epochs) holding them."""
    names = [str(i) for i in range(10)]
    cents = class_centroids(model, x_train, y_train)
    export_classifier(model, str(root), "digits", class_names=names)
    export_attacks(model, str(root), "digits", class_names=names, centroids=cents, feature_space_steps=SERVE_STEPS)
    if samples is not None:
        committee = train_committee(x_train, y_train, num_classes=10, epochs=2, seed=0)
        export_judge(committee, str(root), "digits", image_shape=x_train.shape[1:], class_names=names,
                     samples=samples)
    return os.path.join(str(root), "digits")


def png(arr):
    arr = np.asarray(arr)
    img = Image.fromarray(np.round(np.clip(arr[..., 0], 0, 1) * 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
