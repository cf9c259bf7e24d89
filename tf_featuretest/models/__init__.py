"""Models: classifier architectures and training, what a model is made of, the VAE and the conditional DCGAN."""
from .advgan import AdvGAN, train_advgan
from .architectures import BACKBONES, CLASSIFIERS, BackbonePreprocess, HeadConfig, build_classifier, small_cnn, unfreeze
from .dcgan import ConditionalDCGAN, train_dcgan
from .introspection import (
                            as_logits_model,
                            compiled_predict,
                            feature_layer_name,
                            feature_model,
                            num_classes,
                            outputs_probabilities,
                            single_input,
)
from .saving import check_model_path, load_classifier, load_generative, save_model_atomic
from .training import TrainResult, compile_classifier, get_strategy, train_classifier
from .vae import VAE, Sampling, train_vae

__all__ = ["AdvGAN", "BACKBONES", "CLASSIFIERS", "BackbonePreprocess", "ConditionalDCGAN", "HeadConfig", "Sampling",
           "TrainResult", "VAE", "as_logits_model", "build_classifier", "check_model_path", "compile_classifier",
           "compiled_predict", "feature_layer_name", "feature_model", "get_strategy", "load_classifier",
           "load_generative", "num_classes", "outputs_probabilities", "save_model_atomic", "single_input",
           "small_cnn", "train_advgan", "train_classifier", "train_dcgan", "train_vae", "unfreeze"]
