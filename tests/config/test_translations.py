"""The interface in Chinese by default and in English on request: our own strings come from
the committed zh_Hans catalogue, and the compiled catalogue keeps every placeholder."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils import translation

from chains.models import Chain, Stage
from crm.models import Contact, Enterprise, Office
from crm.roles import MANAGER, role_assign
from recruitment.models import FollowUp, Project
from recruitment.pipeline import IllegalTransition, Status, check_transition
from tests.factories import ProjectFactory

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
PLACEHOLDER = re.compile(r"%\(\w+\)[sdifr]|%[sdifr]|\{\w*\}")


def test_model_names_read_in_chinese_and_in_english():
    with translation.override("zh-hans"):
        assert str(Project._meta.verbose_name) == "招商项目"
        assert str(Chain._meta.verbose_name) == "产业链"
        assert str(Stage._meta.verbose_name) == "环节"
        assert str(FollowUp._meta.verbose_name) == "跟进"
        assert str(Enterprise._meta.get_field("credit_code").verbose_name) == "统一社会信用代码"
        assert str(Project._meta.get_field("planned_investment").verbose_name) == "拟投金额（元）"
    with translation.override("en"):
        assert str(Project._meta.verbose_name) == "recruitment project"
        assert str(Chain._meta.verbose_name) == "industrial chain"
        assert str(Stage._meta.verbose_name) == "stage"
        assert str(Enterprise._meta.get_field("credit_code").verbose_name) == "unified social credit code"


def test_a_persons_name_and_title_differ_from_an_offices_name_and_a_projects_title():
    with translation.override("zh-hans"):
        assert str(Contact._meta.get_field("name").verbose_name) == "姓名"
        assert str(Contact._meta.get_field("title").verbose_name) == "职务"
        assert str(Office._meta.get_field("name").verbose_name) == "名称"
        assert str(Project._meta.get_field("title").verbose_name) == "项目名称"
    with translation.override("en"):
        assert str(Contact._meta.get_field("title").verbose_name) == "title"


def test_pipeline_statuses_are_the_chinese_milestones():
    with translation.override("zh-hans"):
        labels = [str(label) for label in Status.labels]
    assert labels == ["线索", "研判", "洽谈", "签约", "注册落地", "开工", "投产", "达产", "中止", "终止"]
    with translation.override("en"):
        assert str(Status.SIGNED.label) == "Signed 签约"
        assert str(Status.LOST.label) == "Lost 终止"


def test_refused_status_change_is_explained_in_the_active_language():
    with translation.override("zh-hans"), pytest.raises(IllegalTransition) as refused:
        check_transition(Status.SIGNED, Status.LOST)
    assert "终止" in str(refused.value) and "原因" in str(refused.value)
    with translation.override("en"), pytest.raises(IllegalTransition) as refused:
        check_transition(Status.SIGNED, Status.LOST)
    assert str(refused.value) == "A reason is required to mark a project as lost."


def test_admin_site_titles_come_from_our_catalogue():
    with translation.override("zh-hans"):
        assert (str(admin.site.site_header), str(admin.site.index_title)) == ("产业链招商", "招商工作")
    with translation.override("en"):
        assert (str(admin.site.site_header), str(admin.site.index_title)) == ("Chain Recruit", "Recruitment work")


def test_compiled_catalogue_keeps_every_placeholder_of_its_messages():
    """A translation that drops or renames ``%(name)s`` fails at run time with a KeyError."""
    with CATALOGUE.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)._catalog
    messages = [(key, text) for key, text in catalogue.items() if key]
    assert len(messages) > 700
    wrong = []
    for key, text in messages:
        msgid = key[0] if isinstance(key, tuple) else key
        msgid = msgid.split("\x04", 1)[-1]  # drop a context
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(text)):
            wrong.append((msgid, text))
    assert wrong == []


def test_labels_with_the_chinese_term_beside_the_english_read_as_the_term_alone():
    """``"Signed 签约"`` in code reads ``"签约"`` in Chinese (or the term with what the label adds,
    such as a unit: ``"拟投金额（元）"``), never ``"Signed 签约"`` or ``"已签约 签约"``."""
    with CATALOGUE.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)._catalog
    labelled = {
        key: text
        for key, text in catalogue.items()
        if isinstance(key, str) and re.fullmatch(r"[A-Za-z][A-Za-z ()-]* [\u4e00-\u9fff]+", key)
    }
    assert len(labelled) > 30
    assert {key: text for key, text in labelled.items() if not text.startswith(key.rsplit(" ", 1)[1])} == {}


@pytest.mark.django_db
def test_admin_index_is_chinese_by_default_and_english_on_request(client, provincial_user):
    role_assign(user=provincial_user, role=MANAGER)
    client.force_login(provincial_user)

    chinese = client.get(reverse("admin:index")).content.decode()
    assert '<html lang="zh-hans"' in chinese
    for label in ("产业链招商", "招商工作", "招商项目", "产业链", "办公室与企业", "我的工作", "我的跟进"):
        assert label in chinese, label
    assert "Recruitment pipeline" not in chinese

    english = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en"' in english
    for label in ("Chain Recruit", "Recruitment pipeline", "Industrial chains", "My work"):
        assert label in english, label


@pytest.mark.django_db
def test_language_switch_turns_the_admin_to_english_and_back(client, provincial_user):
    role_assign(user=provincial_user, role=MANAGER)
    client.force_login(provincial_user)
    index = reverse("admin:index")

    response = client.post(reverse("set_language"), {"language": "en", "next": index})
    assert response.status_code == 302
    assert "Recruitment work" in client.get(index).content.decode()

    client.post(reverse("set_language"), {"language": "zh-hans", "next": index})
    assert "招商工作" in client.get(index).content.decode()


@pytest.mark.django_db
def test_project_change_list_reads_in_chinese(client, provincial_user):
    ProjectFactory(office=provincial_user.office, status=Status.SIGNED)
    role_assign(user=provincial_user, role=MANAGER)
    client.force_login(provincial_user)
    page = client.get(reverse("admin:recruitment_project_changelist")).content.decode()
    for label in ("招商项目", "项目名称", "目标园区", "负责人", "拟投（万元）", "签约"):
        assert label in page, label
    assert "Signed 签约" not in page
