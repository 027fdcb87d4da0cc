"""The reference for the scan-page benchmark: a bare Flask hello-world, served the same way."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Xin chào"
