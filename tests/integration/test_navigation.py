"""The start page and the File Maintenance menu offer each employee exactly the pages they may
open: every link shown answers 200, every area left out answers 403 (portal/navigation.py reads
the status level from the views themselves)."""
import re

import pytest
from flask import url_for

from portal.navigation import GROUPS
from tests.conftest import log_in

START_PAGE_LINK = re.compile(r'class="list-group-item list-group-item-action" href="([^"]+)"')
MENU_LINK = re.compile(r'class="dropdown-item" href="([^"]+)"')


@pytest.mark.parametrize(("level", "areas"), [(1, 1), (4, 1), (5, 7), (9, 10)])
def test_the_start_page_and_the_menu_offer_exactly_the_pages_the_employee_may_open(app, client, make_employee,
                                                                                  level, areas):
    make_employee(username="someone", status_level=level)
    assert log_in(client, "someone").status_code == 302
    page = client.get("/").get_data(as_text=True)
    on_start_page = START_PAGE_LINK.findall(page)
    in_menu = MENU_LINK.findall(page)
    with app.test_request_context():
        every_area = [url_for(area.endpoint) for group in GROUPS for area in group.areas]
        profile = url_for("account.profile")
    assert len(on_start_page) == areas and len(set(on_start_page)) == areas
    assert in_menu == [url for url in on_start_page if url != profile]  # the same order, without the profile
    for url in every_area:
        status = client.get(url).status_code
        assert status == (200 if url in on_start_page else 403), (level, url, status)
