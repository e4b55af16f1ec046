"""Memory questions from what was said (recall.py): the shared cases (recall_cases.json, also run
against the runtime's src/model/recall.ts), the demo game's rules, and the evaluator's use of them."""
import json
import os
import unittest

from kibitz_models.games.catalogue import get
from kibitz_models.evaluation.recall import Recall

HERE = os.path.dirname(os.path.abspath(__file__))


class TestRecall(unittest.TestCase):
    def test_shared_cases(self):
        with open(os.path.join(HERE, "recall_cases.json")) as f:
            spec = json.load(f)
        recall = Recall(spec["rules"])
        for case in spec["cases"]:
            with self.subTest(case["name"]):
                rule = recall.for_kind(case["kind"])
                got = recall.answer(rule, case["said"], case["now_ms"]) if rule else None
                self.assertEqual(got, case["answer"])

    def test_refuses_an_answer_name_the_line_does_not_define(self):
        with self.assertRaisesRegex(ValueError, r"answer uses \{color\}"):
            Recall([{"kind": "g", "line": "a {colour} gem", "answer": "{color}"}])

    def test_refuses_two_rules_for_one_kind(self):
        with self.assertRaisesRegex(ValueError, r'two recall rules for kind "g"'):
            Recall([{"kind": "g", "line": "a", "answer": "a"}, {"kind": "g", "line": "b", "answer": "b"}])

    def test_demo_rules_answer_their_kinds_the_way_the_ground_truth_does(self):
        demo = get("demo")
        recall = Recall(demo.recall)
        for kind in ("when_hit", "last_gem", "what_happened"):
            self.assertIn(kind, demo.questions)
            self.assertEqual(recall.for_kind(kind)["kind"], kind)
        said = [(64_000.0, "an enemy appears"), (65_500.0, "the player picks up a red gem and the player is hit")]
        self.assertEqual(recall.answer(recall.for_kind("when_hit"), said, 66_000), "at 65 seconds")
        self.assertEqual(recall.answer(recall.for_kind("last_gem"), said, 66_000), "red")
        self.assertEqual(recall.answer(recall.for_kind("what_happened"), said, 66_000), "the player is hit")
        self.assertIsNone(recall.for_kind("score"))


if __name__ == "__main__":
    unittest.main()
