from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from kernel import address
from shop.forms import length, number_range


class AddToCartForm(FlaskForm):
    batch_id = IntegerField(validators=[InputRequired(_l("Choose a batch.")), number_range(min=1, max=2**31 - 1)])
    quantity = IntegerField(
        _l("Quantity"), default=1,
        validators=[InputRequired(_l("Enter a quantity.")), NumberRange(min=1, max=1000, message=_l("Between 1 and 1000."))],
    )


class CheckoutForm(FlaskForm):
    checkout_key = HiddenField(validators=[DataRequired(_l("Your form expired. Please try again."))])
    buyer_name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter your name.")), length(min=2, max=120)])
    buyer_phone = StringField(_l("Mobile phone"), validators=[DataRequired(_l("Enter your phone number.")), length(max=20)])
    buyer_email = StringField(_l("E-mail (optional)"), validators=[Optional(), length(max=254)])
    province_code = SelectField(_l("Province / city"), coerce=int, validators=[InputRequired(_l("Choose a province or city."))])
    ward_code = SelectField(_l("Commune / ward"), coerce=int, validate_choice=False,
                            validators=[InputRequired(_l("Choose a commune or ward."))])
    street = StringField(_l("House number, street, hamlet"), validators=[DataRequired(_l("Enter the street address.")), length(min=3, max=300)])
    note = TextAreaField(_l("Note to the courier"), validators=[Optional(), length(max=500)])
    payment_method = RadioField(_l("Payment"), choices=[("cod", _l("Cash on delivery")),
                                                        ("vietqr", _l("Bank transfer (VietQR)"))], default="cod")

    def fill_choices(self, province_code: int | None) -> None:
        self.province_code.choices = [(0, "—")] + address.provinces()
        self.ward_code.choices = [(0, "—")] + (address.wards(province_code) if province_code else [])
