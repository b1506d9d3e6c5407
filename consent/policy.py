"""The rules of use in force: the catalogue and the purposes, loaded once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from consent import commitments, declarations
from consent.catalogue import Catalogue, load_default
from consent.commitments import CommitmentRules
from consent.declarations import DeclarationRules
from consent.evaluation import EvaluationRules
from consent.evaluation import load_default_rules as load_evaluation_rules
from consent.listings import ListRules
from consent.listings import load_default_rules as load_list_rules
from consent.notices import NoticeRules
from consent.notices import load_default_rules as load_notice_rules
from consent.objections import ObjectionRules, load_default_rules
from consent.purposes import Purposes, load_default_purposes
from consent.repairs import RepairRules
from consent.repairs import load_default_rules as load_repair_rules


@dataclass(frozen=True, slots=True)
class Policy:
    """The catalogue (what may be recorded and shown) and the purposes (who may receive what, why)."""

    catalogue: Catalogue
    purposes: Purposes
    # The objection steps' periods and what is withheld while disputed (consent/data/objections.json).
    objections: ObjectionRules = field(default=None)  # type: ignore[assignment]
    # How far back the recipients of a changed record are told, per purpose (consent/data/notices.json).
    notices: NoticeRules = field(default=None)  # type: ignore[assignment]
    # The repair decision's period, the methods and the effects (consent/data/repairs.json).
    repairs: RepairRules = field(default=None)  # type: ignore[assignment]
    # The lists, their measures, removal conditions and the remedies a person is told of (consent/data/lists.json).
    lists: ListRules = field(default=None)  # type: ignore[assignment]
    # Voluntary registration: the categories open, the verification's period (consent/data/declarations.json).
    declarations: DeclarationRules = field(default=None)  # type: ignore[assignment]
    # Credit commitments: the templates per scenario (consent/data/commitments.json).
    commitments: CommitmentRules = field(default=None)  # type: ignore[assignment]
    # The integrity evaluation for incentive purposes: its window and what counts (consent/data/evaluation.json).
    evaluation: EvaluationRules = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.objections is None:
            object.__setattr__(self, "objections", load_default_rules(self.catalogue))
        if self.notices is None:
            object.__setattr__(self, "notices", load_notice_rules(self.purposes))
        if self.repairs is None:
            object.__setattr__(self, "repairs", load_repair_rules())
        if self.lists is None:
            object.__setattr__(self, "lists", load_list_rules(self.catalogue))
        if self.declarations is None:
            object.__setattr__(self, "declarations", declarations.load_default_rules(self.catalogue))
        if self.commitments is None:
            object.__setattr__(self, "commitments", commitments.load_default_rules(self.catalogue, self.repairs))
        if self.evaluation is None:
            object.__setattr__(self, "evaluation", load_evaluation_rules(self.catalogue))

    @classmethod
    def load_default(cls) -> Policy:
        """Return the shipped catalogue and purposes."""
        catalogue = load_default()
        return cls(catalogue, load_default_purposes(catalogue))
