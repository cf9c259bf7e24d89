"""Feature-level test generation: r-separation, latent-space and DCGAN test cases, an independent label
committee, calibrated in-distribution checks, found radii, directed search, reusable case files, human review."""
from .calibration import CalibrationResult, calibrate
from .cases import TestCases, load_cases, replay, save_cases
from .checker import CaseChecker, CaseChecks
from .distribution import DistributionCheck, check_percentile
from .gan import gan_tests
from .judge import LabelCommittee, PixelKNN, Verdicts, Votes, check_members, train_committee
from .latent import LatentTests, latent_tests, parse_radius, sample_latent_tests_tf
from .radius import FoundRadii, find_radii
from .review import load_reviews, record_reviews, review_counts
from .search import SearchResult, check_methods, search_failures
from .separation import ClosestPair, SeparationResult, encode_features, nearest_other_class, r_separation

__all__ = ["CalibrationResult", "CaseChecker", "CaseChecks", "ClosestPair", "DistributionCheck", "FoundRadii",
           "LabelCommittee", "LatentTests", "PixelKNN", "SearchResult", "SeparationResult", "TestCases", "Verdicts",
           "Votes", "calibrate", "check_members", "check_methods", "check_percentile", "encode_features", "find_radii",
           "gan_tests", "latent_tests", "load_cases", "load_reviews", "nearest_other_class", "parse_radius",
           "r_separation", "record_reviews", "replay", "review_counts", "sample_latent_tests_tf", "save_cases",
           "search_failures", "train_committee"]
