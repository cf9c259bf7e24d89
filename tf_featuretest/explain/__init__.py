"""Saliency maps: vanilla gradients, SmoothGrad and Grad-CAM for any classifier of this package.

Every method takes [0, 1] images (NHWC) and a model that returns logits, explains one class per
image (by default the predicted one) and returns one ``[H, W]`` map per image at the image's own
size, non-negative and finite:

- **vanilla gradient** (Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional
  networks"): ``max_c |d logit_t / d x_c|`` over the colour channels;
- **SmoothGrad** (Smilkov et al. 2017): the gradient averaged over ``n`` copies of the image
  with Gaussian noise of standard deviation ``sigma`` (the paper finds 10-20% of the input range
  works best; images here span 1, so the default is 0.15), then reduced like the vanilla map.
  The noise comes from a generator seeded with ``(seed, image index, sample)``, so an
  image's map does not depend on the batch it is in;
- **Grad-CAM** (Selvaraju et al. 2017): ``ReLU(sum_k a_k A_k)`` on a convolutional layer's
  activations ``A`` with ``a_k`` the spatial mean of ``d logit_t / d A_k``, upsampled bilinearly
  to the image and scaled to a maximum of 1 per image. The layer is found automatically (the last
  layer with a spatial map larger than 1x1, also inside a nested ``"backbone"`` sub-model) or
  named, e.g. ``"conv2"`` or ``"backbone/out_relu"``.

Gradient functions are compiled once per (model, settings) by :class:`Explainer`;
:func:`saliency_maps` keeps one explainer per live model.

Example:
    >>> res = saliency_maps(model, x_test[:8], y_test[:8])
    >>> res.maps["gradcam"].shape
    (8, 32, 32)
"""
from .layers import find_cam_layer
from .saliency import METHOD_TITLES, METHODS, Explainer, SaliencyResult, concentration, get_explainer, saliency_maps

__all__ = ["METHODS", "METHOD_TITLES", "Explainer", "SaliencyResult", "concentration", "find_cam_layer",
           "get_explainer", "saliency_maps"]
