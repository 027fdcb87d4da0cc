from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Optional

from kernel import address
from shop.forms import length


class ApplicationForm(FlaskForm):
    """The public application: no account needed; the last two fields become the first login."""

    name = StringField(_l("Cooperative name"), validators=[DataRequired(_l("Enter the cooperative's name.")), length(min=3, max=200)])
    registration_no = StringField(_l("Registration number"), validators=[
        DataRequired(_l("Enter the registration number.")), length(min=3, max=40)])
    province_code = SelectField(_l("Province / city"), coerce=int, validators=[InputRequired(_l("Choose a province or city."))])
    ward_code = SelectField(_l("Commune / ward"), coerce=int, validate_choice=False,
                            validators=[InputRequired(_l("Choose a commune or ward."))])
    address = StringField(_l("House number, street, hamlet"), validators=[
        DataRequired(_l("Enter the street address.")), length(min=3, max=300)])
    legal_representative = StringField(_l("Legal representative"), validators=[
        DataRequired(_l("Enter the legal representative's name.")), length(min=2, max=120)])
    phone = StringField(_l("Phone"), validators=[DataRequired(_l("Enter your phone number.")), length(max=20)])
    email = StringField(_l("E-mail"), validators=[DataRequired(_l("Enter an e-mail address.")), length(max=254)])
    bank_bin = SelectField(_l("Bank for VietQR transfers (optional)"), validate_choice=False, default="")
    bank_account = StringField(_l("Account number"), validators=[Optional(), length(max=30)])
    main_products = TextAreaField(_l("Main products"), validators=[
        DataRequired(_l("Name the main products.")), length(min=3, max=1000)])
    username = StringField(_l("Username for your first login"), validators=[
        DataRequired(_l("Enter a username.")), length(min=3, max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter a password.")), length(max=200)])
    password_again = PasswordField(_l("Password again"), validators=[
        DataRequired(_l("Enter the password again.")), EqualTo("password", _l("The two passwords differ."))])

    def fill_choices(self, province_code: int | None) -> None:
        from shop.payments.vietqr import BANK_BINS

        self.province_code.choices = [(0, "—")] + address.provinces()
        self.ward_code.choices = [(0, "—")] + (address.wards(province_code) if province_code else [])
        self.bank_bin.choices = [("", "—")] + [(bank.bin, f"{bank.short_name} — {bank.name_vi}") for bank in BANK_BINS.values()]


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), length(max=1000)])
