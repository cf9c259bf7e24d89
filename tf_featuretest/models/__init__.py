"""Models: classifiers, and (see vae.py, dcgan.py) the generative models."""
from .classifiers import (BACKBONES, CLASSIFIERS, BackbonePreprocess, HeadConfig, TrainResult, as_logits_model,
                          build_classifier, compile_classifier, feature_layer_name, feature_model, get_strategy,
                          load_classifier, outputs_probabilities, save_model_atomic, train_classifier, unfreeze)
from .dcgan import ConditionalDCGAN, train_dcgan
from .vae import VAE, Sampling, train_vae

__all__ = ["BACKBONES", "CLASSIFIERS", "BackbonePreprocess", "HeadConfig", "TrainResult", "as_logits_model",
           "build_classifier", "compile_classifier", "feature_layer_name", "feature_model", "get_strategy",
           "load_classifier", "outputs_probabilities", "save_model_atomic", "train_classifier", "unfreeze"]
__all__ += ["ConditionalDCGAN", "VAE", "Sampling", "train_dcgan", "train_vae"]
