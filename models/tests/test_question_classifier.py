"""The question classifier (questions/features.py, phrasings.py, questions/classifier.py): the shared
feature and arithmetic cases (question_features_cases.json, also run against the runtime's
src/questions/), training and export on a small budget, and the bundled packages' classifiers."""
import json
import os
import shutil
import tempfile
import unittest

from kibitz_models.questions.phrasings import FOLDS, NONE, generate, kind_templates, kinds_manifest, none_templates
from kibitz_models.questions.classifier import (FILE, ClassifierConfig, QuestionClassifier, choose_threshold, summarise,
                                               train, write_package)
from kibitz_models.questions.features import feature_strings, featurise, normalise

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
SMALL = ClassifierConfig(buckets=1024, hidden=16, epochs=4, per_kind=300, n_none=2400, val_per_kind=40, val_none=300)


class TestSharedCases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(HERE, "question_features_cases.json")) as f:
            cls.spec = json.load(f)

    def test_features(self):
        for c in self.spec["features"]:
            with self.subTest(c["text"]):
                self.assertEqual(normalise(c["text"]), c["normalised"])
                self.assertEqual(feature_strings(c["text"], self.spec["spec"]["chars"]), c["features"])
                idx, val = featurise(c["text"], self.spec["spec"])
                self.assertEqual(idx, c["indices"])
                for a, b in zip(val, c["values"]):
                    self.assertAlmostEqual(a, b, places=5)

    def test_classifications(self):
        clf = QuestionClassifier(self.spec["classifier"])
        for c in self.spec["classifications"]:
            with self.subTest(c["text"]):
                p = clf.probs(c["text"])
                if c["probs"] is None:
                    self.assertIsNone(p)
                else:
                    for a, b in zip(p, c["probs"]):
                        self.assertAlmostEqual(float(a), b, places=5)
                kind, pb = clf.classify(c["text"])
                self.assertEqual(kind, c["kind"])
                self.assertAlmostEqual(pb, c["p"], places=5)


class TestPhrasings(unittest.TestCase):
    def test_every_kind_of_every_game_and_its_canonical_question(self):
        for game, own in (("demo", "score"), ("chess", "to_move")):
            kinds = kinds_manifest(game)
            self.assertEqual(kinds[0]["kind"], own)
            for k in kinds:
                self.assertTrue(k["label"] and k["examples"] and k["question"].endswith("?"))
                self.assertGreaterEqual(len(kind_templates(game)[k["kind"]]), FOLDS)

    def test_folds_hold_out_templates_and_the_other_games_kinds_are_out_of_scope(self):
        ts = kind_templates("demo")["score"]
        held = {t for t in ts if t in ts[1::FOLDS]}
        self.assertTrue(held)
        topics = none_templates("demo")
        self.assertIn("whose turn is it", " | ".join(topics["other_games_kinds"]).replace("{turn}", "turn").replace("{isit}", "is it"))
        self.assertNotIn("what just happened", topics["other_games_kinds"])   # a kind both games answer is never "none"
        data = generate("demo", 20, 100, seed=3, fold=1, held=False)
        self.assertEqual(sum(1 for _, k in data if k == NONE), 100)
        self.assertEqual(data, generate("demo", 20, 100, seed=3, fold=1, held=False))   # seeded

    def test_threshold_is_chosen_for_balanced_accuracy(self):
        import numpy as np
        pred = {"want": np.array(["a", "a", NONE, NONE]), "kind": np.array(["a", "a", "a", "a"]), "p": np.array([0.9, 0.6, 0.5, 0.2])}
        t = choose_threshold(pred)
        self.assertTrue(0.5 < t <= 0.6)
        self.assertEqual(summarise(pred, t), {"inScope": 2, "outOfScope": 2, "right": 1.0, "refused": 0.0, "wrongKind": 0.0,
                                              "outOfScopeRefused": 1.0})


class TestTrainAndExport(unittest.TestCase):
    def test_trains_exports_and_the_export_reads_back(self):
        spec = train("chess", SMALL, log=lambda _: None)
        self.assertEqual(spec["classes"], ["to_move", "what_happened", "last_capture", NONE])
        self.assertTrue(0.05 <= spec["threshold"] <= 0.95)
        cv = spec["training"]["crossValidation"]
        self.assertGreater(cv["right"], 0.6)
        self.assertGreater(cv["outOfScopeRefused"], 0.6)
        clf = QuestionClassifier(json.loads(json.dumps(spec)))   # through JSON, as written
        self.assertEqual(clf.classify("whose move is it ?")[0], "to_move")
        self.assertEqual(clf.classify("🔥🔥"), (NONE, 0.0))

    def test_write_package_adds_the_file_and_the_manifest_block(self):
        tmp = tempfile.mkdtemp()
        try:
            with open(os.path.join(tmp, "manifest.json"), "w") as f:
                json.dump({"format": "kibitz-mod/1", "name": "t", "game": "chess"}, f)
            write_package(tmp, SMALL, log=lambda _: None)
            with open(os.path.join(tmp, "manifest.json")) as f:
                block = json.load(f)["questions"]
            self.assertEqual(block["file"], FILE)
            self.assertEqual([k["kind"] for k in block["kinds"]], ["to_move", "what_happened", "last_capture"])
            self.assertEqual(block["kinds"][0]["question"], "whose move is it ?")
            self.assertTrue(os.path.exists(os.path.join(tmp, FILE)))
        finally:
            shutil.rmtree(tmp)

    def test_refuses_a_file_of_another_format(self):
        with self.assertRaisesRegex(ValueError, "kibitz-questions/1"):
            QuestionClassifier({"format": "x"})


class TestBundled(unittest.TestCase):
    """The shipped classifiers: every canonical question and manifest example reaches its own kind."""

    def test_canonical_and_examples(self):
        for pkg in ("kibitz-demo", "kibitz-chess"):
            d = os.path.join(MODELS, pkg)
            with open(os.path.join(d, "manifest.json")) as f:
                block = json.load(f)["questions"]
            clf = QuestionClassifier.load(os.path.join(d, block["file"]))
            for k in block["kinds"]:
                for q in [k["question"], *k["examples"]]:
                    with self.subTest(pkg=pkg, q=q):
                        self.assertEqual(clf.classify(q)[0], k["kind"])
            self.assertEqual(clf.classify("asdf qwerty zxcv")[0], NONE)


if __name__ == "__main__":
    unittest.main()
