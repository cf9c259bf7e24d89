"""Feature-level test generation: r-separation, labelled latent-space and DCGAN test cases with validity checks."""
from .gan import gan_tests
from .latent import LatentTestResult, latent_tests, parse_radius, requery, sample_latent_tests_tf
from .separation import ClosestPair, SeparationResult, encode_features, nearest_other_class, r_separation

__all__ = ["ClosestPair", "LatentTestResult", "SeparationResult", "encode_features", "gan_tests", "latent_tests",
           "nearest_other_class", "parse_radius", "requery", "r_separation", "sample_latent_tests_tf"]
