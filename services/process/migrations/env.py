from services.common.migrations import run_env
from services.process.models import Base

run_env(Base.metadata)
