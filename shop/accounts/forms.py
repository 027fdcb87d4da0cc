from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo

from shop.forms import length


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter your username.")), length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), length(max=200)])


class InviteForm(FlaskForm):
    recipient = StringField(_l("E-mail or mobile number"), validators=[
        DataRequired(_l("Enter an e-mail address or a mobile number.")), length(max=254)])


class AcceptInvitationForm(FlaskForm):
    display_name = StringField(_l("Your name"), validators=[DataRequired(_l("Enter your name.")), length(min=2, max=120)])
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter a username.")), length(min=3, max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter a password.")), length(max=200)])
    password_again = PasswordField(_l("Password again"), validators=[
        DataRequired(_l("Enter the password again.")), EqualTo("password", _l("The two passwords differ."))])
