"""django-q2 entry points of generation: thin, they take ids and call one function."""


def generate(job_id: int) -> None:
    from .pipeline import generation_run

    generation_run(job_id)


def sweep_generation_jobs() -> dict:
    from .services import generation_sweep

    return generation_sweep()


def make_print(print_id: int) -> None:
    from .print_pipeline import print_run

    print_run(print_id)
