from services.common.migrations import run_env
from services.notification.models import Base

run_env(Base.metadata)
