"""Pathways: digital skills for London's public services."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from config import get_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_name: str | None = None, **overrides) -> Flask:
    """Build the application. ``overrides`` replace configuration values (used by tests)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    config = get_config(config_name)
    config.check()
    app.config.from_object(config)
    app.config.update(overrides)

    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_error_handlers(app)
    register_templates(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from flask import session

    from app.extensions import csrf, db, login_manager, migrate
    from app.models import Person
    from app.services import sessions

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to see this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    sessions.check_settings(app.config)

    @login_manager.user_loader
    def load_person(session_id: str) -> Person | None:
        person_id, _, version = session_id.partition(":")
        person = None
        if person_id.isdigit() and version.isdigit():
            # One query for the person with what every page shows of them and their session's record.
            person = sessions.signed_in_person(int(person_id), int(version), session.get(sessions.COOKIE_KEY))
        if person is None:
            # An ended session: forget it, so the browser is signed out and later requests ask nothing of it.
            for key in ("_user_id", "_fresh", "_id", sessions.COOKIE_KEY):
                session.pop(key, None)
        return person

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from sqlalchemy import event

        with app.app_context():

            @event.listens_for(db.engine, "connect")
            def _sqlite_pragmas(dbapi_connection, _record):
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()
    else:
        from app.prepared_statements import keep_prepared_statements

        with app.app_context():
            if db.engine.dialect.driver == "psycopg":
                keep_prepared_statements(db.engine)


def register_url_converters(app: Flask) -> None:
    from werkzeug.routing import IntegerConverter

    class IdConverter(IntegerConverter):
        """Ids are 32-bit integers in the database: a larger number in a URL matches no route (404), rather
        than reaching a query that the database refuses (500)."""

        def __init__(self, url_map, *args, **kwargs):
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = IdConverter


def register_blueprints(app: Flask) -> None:
    from app.admin.routes import bp as admin_bp
    from app.apprenticeships import bp as apprenticeships_bp
    from app.auth.routes import bp as auth_bp
    from app.certificate_batches import bp as certificate_batches_bp
    from app.certificates import bp as certificates_bp
    from app.cohort_review import bp as cohort_review_bp
    from app.content.routes import bp as course_images_bp
    from app.intakes import bp as intakes_bp
    from app.learning.routes import bp as learning_bp
    from app.main.routes import bp as main_bp
    from app.people.routes import bp as people_bp
    from app.reminders import bp as reminders_bp
    from app.runs.routes import bp as runs_bp
    from app.scheduling import bp as scheduling_bp
    from app.standards import bp as standards_bp
    from app.statements import bp as statements_bp
    from app.verify.routes import bp as verify_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(learning_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(course_images_bp)
    app.register_blueprint(runs_bp)
    app.register_blueprint(apprenticeships_bp)
    app.register_blueprint(standards_bp)
    app.register_blueprint(intakes_bp)
    app.register_blueprint(certificate_batches_bp)
    app.register_blueprint(certificates_bp)
    app.register_blueprint(verify_bp)
    app.register_blueprint(scheduling_bp)
    app.register_blueprint(cohort_review_bp)
    app.register_blueprint(reminders_bp)
    app.register_blueprint(statements_bp)


def register_request_hooks(app: Flask) -> None:
    from app.web import init_request_hooks

    init_request_hooks(app)


def register_error_handlers(app: Flask) -> None:
    from app.web import init_error_handlers

    init_error_handlers(app)


def register_templates(app: Flask) -> None:
    from app.web import init_templates

    init_templates(app)


def register_commands(app: Flask) -> None:
    from app.commands import init_commands

    init_commands(app)
