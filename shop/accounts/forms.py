from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter your username.")), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)])


class InviteForm(FlaskForm):
    recipient = StringField(_l("E-mail or mobile number"), validators=[
        DataRequired(_l("Enter an e-mail address or a mobile number.")), Length(max=254)])


class AcceptInvitationForm(FlaskForm):
    display_name = StringField(_l("Your name"), validators=[DataRequired(_l("Enter your name.")), Length(min=2, max=120)])
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter a username.")), Length(min=3, max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter a password.")), Length(max=200)])
    password_again = PasswordField(_l("Password again"), validators=[
        DataRequired(_l("Enter the password again.")), EqualTo("password", _l("The two passwords differ."))])
