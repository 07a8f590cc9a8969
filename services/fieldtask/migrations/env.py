from services.common.migrations import run_env
from services.fieldtask.models import Base

run_env(Base.metadata)
