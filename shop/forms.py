"""Putting service and schema errors back on the form, next to the field they concern."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from pydantic import ValidationError
from wtforms.validators import Length, NumberRange

from kernel.errors import ServiceError


def apply_errors(form: FlaskForm, error: ValidationError | ServiceError) -> None:
    if isinstance(error, ServiceError):
        field = form._fields.get(error.field or "")
        if field is not None:
            field.errors = list(field.errors) + [error.message]
        else:
            form.form_errors.append(error.message)
        return
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        field = form._fields.get(name)
        message = gettext("This value is not valid.")
        if field is not None:
            field.errors = list(field.errors) + [message]
        else:
            form.form_errors.append(message)


def schema_from_form(schema, form: FlaskForm):
    """Build a pydantic input schema from a submitted form; empty optional fields take defaults."""
    values = {name: form[name].data for name in schema.model_fields if name in form._fields}
    return schema(**{name: value for name, value in values.items() if value is not None})


# WTForms' own messages are English only; these say the limits in the reader's language.
# WTForms fills in %(min)s / %(max)s itself when the field fails.
def length(*, max: int, min: int = -1) -> Length:
    if min > 0:
        return Length(min=min, max=max, message=_l("Enter %(min)d to %(max)d characters."))
    return Length(max=max, message=_l("Enter at most %(max)d characters."))


def number_range(*, min, max) -> NumberRange:
    return NumberRange(min=min, max=max, message=_l("Enter a number from %(min)s to %(max)s."))
