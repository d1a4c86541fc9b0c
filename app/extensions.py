"""Extension objects, created once and bound to the app in the factory."""
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = SQLA()
csrf = CSRFProtect()
migrate = Migrate()
# One AppBuilder serves one app: the factory takes this one for the first app of
# the process and a fresh one for any further app (tests build several).
appbuilder = AppBuilder()
