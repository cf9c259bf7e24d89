"""Running a pipeline: the runner, its context, the stage cache, the stages, and the standalone testgen job."""
from .context import RunContext, RunResult, StageOutcome
from .runner import NEEDS, STAGES, parse_stages, run_pipeline
from .testgen import TestgenResult, generate_tests

__all__ = ["NEEDS", "RunContext", "RunResult", "STAGES", "StageOutcome", "TestgenResult", "parse_stages",
           "run_pipeline", "generate_tests"]
