"""The shape every Sys Config settings page shares: show the saved values, save the changed
ones (audited by portal.settings), say what happened, and show field errors on a bad form."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import settings


def settings_page(form, template: str, endpoint: str, saved_message: str, **context):
    if request.method == "GET":
        form.load(settings.get)
    elif form.validate_on_submit():
        changed = settings.save(form.changes(), actor=current_user)
        flash(saved_message if changed else "Nothing to save: no setting was changed.", "success")
        return redirect(url_for(endpoint))
    return render_template(template, form=form, **context)
