"""Demo monthly ledgers: twelve months of signed projects, progress, evidence, submissions and a scheme.

Written through the services after the landing demo (``seeds/landing_demo.py``; its
entries must be in before the months they fall in are locked), month by month as it
would have happened, with dates relative to today so the story reads the same
whenever the demo is loaded:

* nine illustrative projects in the four park offices, signed across the last twelve
  months (out-of-province ones of at least 1亿元, one with the stainless-steel chain's
  owner 太钢, one capital increase counted as its increment);
* every month: investment completed, funds in place with bank transfer slips (one
  without, shown as missing evidence), milestones with licences and permits — each
  evidence file a small generated PDF or PNG stored through the evidence storage;
* each park office submits each month: on time, late, one month never submitted (a
  missed report), and the last month still open where its deadline is not over;
* a correction of a locked month with its reason, reported in the next month;
* one project not started on time (the 0.1-point deduction);
* the provincial scheme and the city template of the assessment, with targets, scores
  and a bonus, so the leaderboards have points to drill into.

Keyed by external id: when the first project exists, nothing is written (a second run
changes nothing).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.utils import timezone

from chains.models import Chain
from crm.models import Enterprise, Office
from ledger import ledger_rules as rules
from ledger.models import AssessmentScheme, SchemeAdjustment, SchemeIndicator, SchemeValue
from ledger.services import evidence_attach, ledger_submit
from recruitment.landing import progress_record, project_plan_set
from recruitment.models import FollowUp, Project, ProjectStatusChange
from recruitment.pipeline import Status
from recruitment.services import followup_complete, project_create, project_transition, project_update
from seeds.upserts import CREATED, UNCHANGED

MONTHS = 12
WAN = Decimal(10_000)
MILESTONE_EVIDENCE = {"registered": "licence", "construction": "permit", "production": "other"}


@dataclass
class Spec:
    key: str
    office: str
    enterprise: int | str  # a demo enterprise's number, or owner-of:<chain> (the chain's 链主)
    stage: str
    title: str
    signed: int  # the month (0 = twelve months ago … 11 = last month) of the signing
    amount_wan: int
    monthly_wan: int  # investment completed each month from the month after signing
    moves: dict[int, str] = field(default_factory=dict)  # month → status reached that month
    increase: tuple[int, int] | None = None  # (month, new signed amount in 万元)
    construction_plan: int | None = None  # planned construction start (month), when not the actual one
    funds_every: int = 3  # funds in place every n months (with a bank slip)
    funds_without_slip: int | None = None  # the month whose funds entry has no evidence


SPECS: tuple[Spec, ...] = (
    Spec(
        "demo-ledger-1",
        "demo-yangqu",
        15,
        "cf-prepreg-preform",
        "碳纤维预浸料生产线项目（示例）",
        signed=0,
        amount_wan=15_000,
        monthly_wan=600,
        moves={1: Status.REGISTERED, 3: Status.CONSTRUCTION, 9: Status.PRODUCTION},
        increase=(6, 20_000),
    ),
    Spec(
        "demo-ledger-2",
        "demo-yangqu",
        20,
        "bp-yarn",
        "生物基纺丝扩产项目（示例）",
        signed=4,
        amount_wan=12_000,
        monthly_wan=450,
        moves={5: Status.REGISTERED, 7: Status.CONSTRUCTION},
        funds_without_slip=8,
    ),
    Spec(
        "demo-ledger-3",
        "demo-yangqu",
        17,
        "cf-composite-parts",
        "无人机复材结构件项目（示例）",
        signed=9,
        amount_wan=8_000,
        monthly_wan=300,
        moves={10: Status.REGISTERED},
    ),
    Spec(
        "demo-ledger-4",
        "demo-zhongbei",
        28,
        "ss-cold-rolled-plate",
        "精密冷轧带钢项目（示例）",
        signed=1,
        amount_wan=20_000,
        monthly_wan=800,
        moves={2: Status.REGISTERED, 4: Status.CONSTRUCTION, 10: Status.PRODUCTION},
    ),
    Spec(
        "demo-ledger-5",
        "demo-zhongbei",
        "owner-of:stainless-steel",
        "ss-deep-processing",
        "太钢不锈钢深加工配套项目（示例）",
        signed=5,
        amount_wan=30_000,
        monthly_wan=1_000,
        moves={6: Status.REGISTERED, 8: Status.CONSTRUCTION},
    ),
    Spec(
        "demo-ledger-6",
        "demo-xinzhou",
        26,
        "cf-end-products",
        "碳纤维自行车车架项目（示例）",
        signed=2,
        amount_wan=11_000,
        monthly_wan=200,
        moves={4: Status.REGISTERED},
        construction_plan=6,
    ),
    Spec(
        "demo-ledger-7",
        "demo-xinzhou",
        16,
        "cf-acrylonitrile",
        "丙烯腈原料配套项目（示例）",
        signed=7,
        amount_wan=6_000,
        monthly_wan=250,
        moves={9: Status.REGISTERED},
    ),
    Spec(
        "demo-ledger-8",
        "demo-yuanping",
        27,
        "cf-composite-parts",
        "生物基复合材料二期项目（示例）",
        signed=3,
        amount_wan=9_000,
        monthly_wan=350,
        moves={5: Status.REGISTERED, 8: Status.CONSTRUCTION},
    ),
    Spec(
        "demo-ledger-9",
        "demo-yuanping",
        22,
        "lp-special-nylon",
        "特种尼龙工程塑料项目（示例）",
        signed=6,
        amount_wan=13_000,
        monthly_wan=500,
        moves={7: Status.REGISTERED},
    ),
)

# The day of the next month each office submits each month's ledger (deadline: the 5th by default);
# None: never submitted (a missed report). Months not listed are submitted on the 3rd.
SUBMISSIONS: dict[str, dict[int, int | None]] = {
    "demo-yangqu": {4: 9},
    "demo-zhongbei": {2: 12, 7: 8},
    "demo-xinzhou": {3: 15, 5: None, 9: 7},
    "demo-yuanping": {1: 10, 11: None},
}
# The correction of a locked month: (office's project key, month corrected, day of the month after next).
CORRECTION = ("demo-ledger-1", 2, 16, "发票重复计入，按审计意见核减（示例）")


def demo_pdf(title: str) -> bytes:
    """A one-page PDF saying it is illustrative evidence (reportlab's built-in Chinese CID font, no file)."""
    from reportlab.lib.pagesizes import A6
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A6, invariant=True)
    page.setFont("STSong-Light", 12)
    page.drawString(20, 360, "示例佐证材料（演示数据）")
    page.drawString(20, 340, "Illustrative evidence (demo data)")
    page.drawString(20, 310, title)
    page.showPage()
    page.save()
    return out.getvalue()


def demo_png(text: str) -> bytes:
    """A small PNG (a scanned-slip placeholder)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 120), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 235, 115), outline="black")
    draw.text((14, 20), "DEMO EVIDENCE", fill="black")
    draw.text((14, 50), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class _Story:
    """One load of the ledger demo: the months, the clock and the lookups."""

    def __init__(self, demo: Any) -> None:
        self.demo = demo
        self.now = timezone.now()
        this_month = rules.month_of(timezone.localdate(self.now))
        months = [this_month]
        for _ in range(MONTHS):
            months.insert(0, rules.previous_month(months[0]))
        self.months = months[:MONTHS]  # twelve full months, oldest first
        self.projects: dict[str, Project] = {}
        self.entries: dict[tuple[str, int], Any] = {}

    def at(self, month: int, day: int, hour: int = 10) -> dt.datetime:
        """Day ``day`` of story month ``month`` (12 = this month), local time."""
        base = self.months[month] if month < MONTHS else rules.next_month(self.months[-1])
        return timezone.make_aware(dt.datetime(base.year, base.month, day, hour))

    def clamp(self, when: dt.datetime) -> dt.datetime:
        return min(when, self.now - dt.timedelta(minutes=1))

    def enterprise(self, spec: Spec) -> Enterprise:
        if isinstance(spec.enterprise, int):
            return self.demo.enterprises[spec.enterprise]
        chain = Chain.objects.filter(code=spec.enterprise.removeprefix("owner-of:")).select_related("owner_enterprise")
        owner = next((c.owner_enterprise for c in chain if c.owner_enterprise is not None), None)
        return owner or self.demo.enterprises[1]

    # --- the facts, as they happened --------------------------------------------------------------

    def sign(self, spec: Spec) -> Project:
        office = self.demo.offices[spec.office]
        owner = self.demo.users[spec.office]
        stage = self.demo.stages.get(spec.stage) or next(iter(self.demo.stages.values()))
        amount = Decimal(spec.amount_wan) * WAN
        project = project_create(
            office=office,
            actor=owner,
            stages=[stage],
            title=spec.title,
            enterprise=self.enterprise(spec),
            park=office.park or next(iter(self.demo.parks.values())),
            owner=owner,
            external_id=spec.key,
            is_demo=True,
            planned_investment=amount,
            signed_amount=amount,
            description="示例项目：月报台账演示数据。Illustrative demo project for the monthly ledger.",
            status=Status.SIGNED,
        )
        construction = spec.construction_plan
        if construction is None:
            construction = next((m for m, s in spec.moves.items() if s == Status.CONSTRUCTION), spec.signed + 6)
        plan: dict[str, Any] = {"construction": self.at(min(construction, MONTHS), 15).date()}
        registered = next((m for m, s in spec.moves.items() if s == Status.REGISTERED), None)
        if registered is not None:
            plan["registered"] = self.at(registered, 12).date()
        project_plan_set(project=project, plan=plan, actor=owner, partial=True)
        for follow_up in FollowUp.objects.filter(project=project, status=FollowUp.Status.OPEN):
            followup_complete(follow_up=follow_up, actor=owner)
        # The pipeline stamps "now"; the story needs its past: signed on the 8th of its month,
        # first heard of a month before, the signed amount recorded when signed.
        signed_at = self.at(spec.signed, 8)
        ProjectStatusChange.objects.filter(project=project).update(changed_at=signed_at)
        Project.objects.filter(pk=project.pk).update(
            created_at=signed_at - dt.timedelta(days=30), status_changed_at=signed_at
        )
        Project.history.filter(id=project.pk).update(history_date=signed_at)
        project.refresh_from_db()
        return project

    def month(self, k: int) -> None:
        """What happened in story month ``k``: signings, moves, increases, entries, then the submissions."""
        for spec in SPECS:
            if spec.signed == k:
                self.projects[spec.key] = self.sign(spec)
        for spec in SPECS:
            project = self.projects.get(spec.key)
            if project is None:
                continue
            owner = self.demo.users[spec.office]
            if k in spec.moves:
                project_transition(project=project, to=spec.moves[k], actor=owner, at=self.at(k, 18))
            if spec.increase and spec.increase[0] == k:
                project.refresh_from_db()  # the moves above were written on the row, not on this instance
                project_update(project=project, actor=owner, signed_amount=Decimal(spec.increase[1]) * WAN)
                latest = Project.history.filter(id=project.pk).order_by("-history_date").first()
                Project.history.filter(history_id=latest.history_id).update(history_date=self.at(k, 20))
            self.entries_of(spec, project, k)
        if CORRECTION[1] == k - 1:
            self.correct()
        self.submit(k)

    def entries_of(self, spec: Spec, project: Project, k: int) -> None:
        owner = self.demo.users[spec.office]
        recorded = self.clamp(self.at(k + 1, 2))
        month = self.months[k]
        if k > spec.signed:
            self.entries[(spec.key, k)] = progress_record(
                project=project,
                kind="investment",
                month=month,
                amount=Decimal(spec.monthly_wan) * WAN,
                actor=owner,
                now=recorded,
            )
        if k > spec.signed and (k - spec.signed) % spec.funds_every == 0 or k == spec.funds_without_slip:
            funds = progress_record(
                project=project,
                kind="funds",
                month=month,
                amount=Decimal(spec.monthly_wan * spec.funds_every) * WAN,
                actor=owner,
                now=recorded,
            )
            if k != spec.funds_without_slip:
                self.evidence(funds, "bank_slip", f"银行转账凭证-{month:%Y%m}.png", owner, recorded, png=True)
                if k == spec.signed + spec.funds_every:  # the first funds in place: the contract behind them
                    self.evidence(funds, "contract", f"投资合同-{spec.key}.pdf", owner, recorded)
        if k in spec.moves and spec.moves[k] in MILESTONE_EVIDENCE:
            milestone = str(spec.moves[k])
            entry = progress_record(
                project=project,
                kind="milestone",
                month=month,
                milestone=milestone,
                date=self.at(k, 18).date(),
                actor=owner,
                now=recorded,
            )
            self.evidence(entry, MILESTONE_EVIDENCE[milestone], f"{milestone}-{month:%Y%m}.pdf", owner, recorded)

    def evidence(self, entry: Any, kind: str, name: str, owner: Any, when: dt.datetime, *, png: bool = False) -> None:
        body = demo_png(name.rsplit(".", 1)[0][-20:]) if png else demo_pdf(f"{entry.project.title} · {name}")
        evidence_attach(entry=entry, upload=ContentFile(body, name=name), kind=kind, actor=owner, now=when)

    def correct(self) -> None:
        key, k, day, reason = CORRECTION
        spec = next(s for s in SPECS if s.key == key)
        wrong = self.entries[(key, k)]
        progress_record(
            project=self.projects[key],
            kind="investment",
            month=self.months[k],
            amount=wrong.amount - Decimal(100) * WAN,
            corrects=wrong,
            reason=reason,
            actor=self.demo.users[spec.office],
            now=self.clamp(self.at(k + 2, day)),
        )

    def submit(self, k: int) -> None:
        for code, exceptions in SUBMISSIONS.items():
            day = exceptions.get(k, 3)
            if day is None:
                continue
            when = self.at(k + 1, day)
            if when >= self.now:  # not yet: the month is still open
                continue
            office = self.demo.offices[code]
            ledger_submit(office=office, month=self.months[k], actor=self.demo.users[f"{code}-manager"], now=when)


def _schemes(story: _Story) -> None:
    """The provincial scheme and the city template, for the year of last month."""
    year = story.months[-1].year
    parks = [story.demo.offices[c] for c in SUBMISSIONS]
    province = AssessmentScheme.objects.create(
        code=f"demo-province-{year}",
        name="省级招商引资考核方案（示例）",
        year=year,
        late_start_deduction=Decimal("0.1"),
        missed_report_deduction=Decimal("1"),
        source="Illustrative: 30×(new out-of-province projects ≥1亿元 ÷ target) + 20×(funds in place ÷ target) "
        "+ 20×industry fit + 15 + 15 peer scores, with bonuses.",
    )
    for i, (code, name, formula) in enumerate(
        (
            ("new_big", "省外新签约亿元以上项目", "30 * new_big_out_of_province / target_new_big"),
            ("funds", "到位资金", "20 * funds_in_place / target_funds"),
            ("industry_fit", "产业匹配度", "20 * industry_fit"),
            ("peers", "部门与园区互评", "15 * peer_departments + 15 * peer_parks"),
        )
    ):
        SchemeIndicator.objects.create(scheme=province, code=code, name=name, order=i, formula=formula)
    city = AssessmentScheme.objects.create(
        code=f"demo-city-{year}",
        name="市级招商考核模板（示例）",
        year=year,
        max_points=Decimal(100),
        late_start_deduction=Decimal("0.1"),
        missed_report_deduction=Decimal("1"),
        source="Illustrative city template: at most 50 points for out-of-region signed investment, 30 for links "
        "with chain-owner enterprises, 20 for other work; −0.1 per project not started on time, −1 per missed report.",
    )
    for i, (code, name, formula) in enumerate(
        (
            ("out_of_region", "域外签约额", "min(50, 50 * out_of_province_signed_amount / target_out_signed)"),
            ("chain_owner", "链主企业对接", "min(30, 15 * chain_owner_links)"),
            ("other", "其他工作", "20 * other_work"),
        )
    ):
        SchemeIndicator.objects.create(scheme=city, code=code, name=name, order=i, formula=formula)
    scores = {
        "demo-yangqu": ("0.90", "0.92", "0.88", "0.95"),
        "demo-zhongbei": ("0.95", "0.90", "0.93", "0.90"),
        "demo-xinzhou": ("0.80", "0.85", "0.82", "0.75"),
        "demo-yuanping": ("0.85", "0.80", "0.86", "0.85"),
    }
    for office in parks:
        fit, departments, peer_parks, other = scores[office.code]
        for scheme, named in (
            (
                province,
                {
                    "target_new_big": "2",
                    "target_funds": "150000000",
                    "industry_fit": fit,
                    "peer_departments": departments,
                    "peer_parks": peer_parks,
                },
            ),
            (city, {"target_out_signed": "400000000", "other_work": other}),
        ):
            for name, value in named.items():
                SchemeValue.objects.create(
                    scheme=scheme, office=office, name=name, value=Decimal(value), note="示例 / illustrative"
                )
    SchemeAdjustment.objects.create(
        scheme=province,
        office=story.demo.offices["demo-zhongbei"],
        points=Decimal("2"),
        reason="引进链主配套项目加分（示例）",
    )


def ledger_demo_load(demo: Any) -> None:
    """Write the ledger demo unless it is there (``demo`` is the loader with its lookups)."""
    first = SPECS[0]
    if Project.objects.filter(office=demo.offices[first.office], external_id=first.key).exists():
        demo.tally.add("ledger demo", UNCHANGED)
        return
    if any(code not in demo.offices for code in SUBMISSIONS) or not Office.objects.filter(kind="park").exists():
        return
    story = _Story(demo)
    for k in range(MONTHS):
        story.month(k)
    _schemes(story)
    demo.tally.add("ledger demo", CREATED)
