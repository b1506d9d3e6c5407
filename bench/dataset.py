"""The bench's data set: valid people and records in a JSON Lines file, and loading it for real.

Records are written in rounds (every person's first record, then every person's second, ...),
as an agency's export ordered by date would be, so an import batch touches as many different
people as it has lines.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stdnum.cn import ric
from tqdm import tqdm

from audit.tx import AccessContext
from bench.registry import BenchError
from bench.workspace import Workspace
from gateway.usecases import clients as client_use
from gateway.usecases import ledger
from gateway.usecases import records as record_use
from vault.errors import InvalidCitizenId
from vault.identity import normalise_citizen_id

# What one tax bureau files (谁主管、谁认定、谁负责: one provider, one agency role).
CATEGORIES = ("ADMINISTRATIVE_PENALTY_GENERAL", "TAX_ARREARS", "SOCIAL_INSURANCE_ARREARS")
DIVISIONS = ("110105", "310104", "440305")
NAMES = ("王芳", "李伟", "张秀英", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周婷", "吴强")


@dataclass
class Dataset:
    """The generated file, who is in it, and the provider that imports it."""

    path: Path
    citizen_ids: list[str]
    records_per_person: int
    provider_id: str
    imported: bool = False

    @property
    def records(self) -> int:
        """Return the number of lines (records) in the file."""
        return len(self.citizen_ids) * self.records_per_person


def citizen_ids(count: int, rng: random.Random, today: date) -> list[str]:
    """Return `count` distinct valid citizen IDs of adults (ISO 7064 check digit, known division)."""
    found: dict[str, None] = {}
    attempts = 0
    while len(found) < count:
        attempts += 1
        if attempts > count * 20 + 1000:
            raise BenchError("could not generate enough distinct citizen IDs")
        born = today - timedelta(days=rng.randint(18 * 366, 70 * 365))
        body = f"{rng.choice(DIVISIONS)}{born:%Y%m%d}{rng.randint(1, 999):03d}"
        candidate = body + ric.calc_check_digit(body + "0")
        try:
            found[normalise_citizen_id(candidate, today)] = None
        except InvalidCitizenId:
            continue
    return list(found)


def record_body(citizen_id: str, person: int, index: int, today: date) -> dict[str, Any]:
    """Return a valid record line for the `index`th record of a person, distinct from all others."""
    category = CATEGORIES[(person + index) % len(CATEGORIES)]
    decided = today - timedelta(days=1 + (person * 7 + index * 13) % 300)
    number = f"〔{decided.year}〕{person}-{index}号"
    body: dict[str, Any] = {
        "citizen_id": citizen_id,
        "name": NAMES[person % len(NAMES)],
        "category": category,
        "decided_at": decided.isoformat(),
    }
    amount = f"{100 + (person * 31 + index * 17) % 50_000}.00"
    if category == "ADMINISTRATIVE_PENALTY_GENERAL":
        body["document"] = _document("administrative_penalty_decision", "常税罚" + number, "国家税务总局常州市税务局",
                                     decided)
        body["payload"] = {
            "violation": "未按规定明码标价",
            "provision_violated": "《价格法》第十三条",
            "penalty_basis": "《价格违法行为行政处罚规定》第十三条",
            "penalty_type": "fine",
            "penalty_content": f"罚款人民币{amount}元",
            "fine_amount": amount,
            "sector": "circulation_services",
            "subject_role": "natural_person",
        }
    elif category == "TAX_ARREARS":
        body["document"] = _document("tax_decision", "常税欠" + number, "国家税务总局常州市税务局", decided)
        body["payload"] = {
            "tax_type": "individual_income_tax",
            "arrears_since": (decided - timedelta(days=90)).isoformat(),
            "arrears_amount": amount,
            "subject_role": "natural_person",
        }
    else:
        body["document"] = _document("social_insurance_decision", "常税社" + number, "国家税务总局常州市税务局",
                                     decided)
        body["payload"] = {
            "insurance_type": "basic_pension",
            "arrears_since": (decided - timedelta(days=60)).isoformat(),
            "arrears_amount": amount,
            "subject_role": "natural_person",
        }
    return body


def _document(kind: str, number: str, authority: str, effective: date) -> dict[str, str]:
    return {"type": kind, "number": number, "authority": authority, "effective_at": effective.isoformat()}


def write_jsonl(path: Path, ids: list[str], records_per_person: int, today: date, progress: bool | None) -> None:
    """Write every person's records to `path`, in rounds."""
    total = len(ids) * records_per_person
    with path.open("w", encoding="utf-8") as out, progress_bar(total, "generate", "rec", progress) as bar:
        for index in range(records_per_person):
            lines = [json.dumps(record_body(cid, person, index, today), ensure_ascii=False, separators=(",", ":"))
                     for person, cid in enumerate(ids)]
            out.write("\n".join(lines) + "\n")
            bar.update(len(lines))


def progress_bar(total: int, desc: str, unit: str, progress: bool | None) -> tqdm[Any]:
    # disable=None hides the bar when stderr is not a terminal, as the CLI does.
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr,
                disable=None if progress is None else not progress, leave=False)


def ensure_dataset(ws: Workspace) -> Dataset:
    """Return the workspace's data set, generating the file and registering its provider once."""
    if ws.dataset is not None:
        return ws.dataset
    opts = ws.options
    if opts.people < 1 or opts.records_per_person < 1:
        raise BenchError("--people and --records-per-person must be at least 1")
    today = ws.runtime.clock.now().date()
    ids = citizen_ids(opts.people, random.Random(opts.seed), today)
    path = ws.home / "records.jsonl"
    write_jsonl(path, ids, opts.records_per_person, today, opts.progress)
    provider = client_use.add_client(ws.runtime, role="provider", name="bench tax bureau",
                                     categories=list(CATEGORIES), kind=None, agency="tax", level="city")
    ws.dataset = Dataset(path, ids, opts.records_per_person, provider.client_id)
    return ws.dataset


@dataclass
class Curve:
    """Records per second over each tenth of the file, to show whether the import slows as data grows.

    Tenths are counted in bytes of the file as `import_file` reports them done (lines are of
    about the same size), so a tenth ends when the batch holding its last line is committed.
    """

    size: int
    records: int
    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    marks: list[float] = field(default_factory=list)

    last: float = 0.0

    def advance(self, size: int) -> None:
        """Count bytes reported done; note the time whenever another tenth is done.

        A batch larger than a tenth (tiny files) ends several at once: their ends are spread over the
        batch's time in proportion to bytes.
        """
        now = time.perf_counter()
        before, since = self.done, self.last or self.started
        self.done += size
        while len(self.marks) < TENTHS and self.done >= (bound := self.size * (len(self.marks) + 1) / TENTHS):
            self.marks.append(since + (now - since) * (bound - before) / max(size, 1))
        self.last = now

    @property
    def seconds(self) -> float:
        """Return the seconds from the start to the end of the last tenth done."""
        return self.marks[-1] - self.started if self.marks else 0.0

    @property
    def rates(self) -> list[float]:
        """Return records per second for each tenth done so far."""
        times = [self.started, *self.marks]
        return [self.records / TENTHS / max(times[i + 1] - times[i], 1e-9) for i in range(len(self.marks))]

    def describe(self) -> str:
        """Return the rates per tenth, as `a / b / ... rec/s`."""
        return " / ".join(f"{r:,.0f}" for r in self.rates) + " rec/s"


TENTHS = 10


def import_dataset(ws: Workspace, dataset: Dataset, desc: str = "import") -> Curve:
    """Import the file through `records import`'s use case; return its rate per tenth of the file.

    Raises BenchError unless every line was created.
    """
    rt = ws.runtime
    provider = client_use.provider(rt, dataset.provider_id)
    access = AccessContext(actor=dataset.provider_id, role="provider", basis="bulk import")
    curve = Curve(dataset.path.stat().st_size, dataset.records)

    def progress(size: int) -> None:
        curve.advance(size)
        bar.update(size)

    with progress_bar(dataset.path.stat().st_size, desc, "B", ws.options.progress) as bar:
        curve.started = time.perf_counter()
        report = record_use.import_file(rt, provider, dataset.path, access, progress=progress)
    if report.errors:
        line, reason = report.errors[0]
        raise BenchError(f"import rejected {len(report.errors)} lines; first: line {line}: {reason}")
    if report.created != dataset.records:
        raise BenchError(f"import created {report.created} of {dataset.records} records")
    ws.say(f"{desc} per tenth of the file: {curve.describe()}")
    dataset.imported = True
    # As `records import` does after an import (untimed here, as it is not the import's own work): else the
    # service's first periodic checkpoint integrates every entry of the import inside a worker, after some
    # response, and at full scale (2 M entries, two minutes) that worker answers nothing meanwhile.
    with ws.step("checkpoint the audit log"):
        ledger.checkpoint(rt)
    return curve


def ensure_imported(ws: Workspace) -> Dataset:
    """Return the data set, imported (untimed) if no earlier measurement imported it."""
    dataset = ensure_dataset(ws)
    if not dataset.imported:
        import_dataset(ws, dataset, desc="load data")
    return dataset
