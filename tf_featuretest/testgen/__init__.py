"""Feature-level test generation: r-separation, labelled latent-space and DCGAN test cases with validity checks."""
from .gan import gan_tests
from .latent import LatentTestResult, latent_tests, parse_radius, sample_latent_tests_tf
from .run import TestgenResult, run_testgen
from .separation import ClosestPair, SeparationResult, nearest_other_class, r_separation

__all__ = ["ClosestPair", "LatentTestResult", "SeparationResult", "TestgenResult", "gan_tests", "latent_tests",
           "nearest_other_class", "parse_radius", "r_separation", "run_testgen", "sample_latent_tests_tf"]
