"""The comparison report: table cells and the language-model-vs-baselines verdict."""
from seqvec.classifiers.compare import markdown_table, verdicts


def run(encoder, head, value, lo, hi, task="ss3", metric="Q3"):
    return {"encoder": encoder, "model": "seqvec-mini" if encoder == "lm" else encoder, "head": head,
            "tasks": {task: {"metrics": {metric: {"value": value, "ci95": [lo, hi]}}}}}


def results(*runs):
    return {"tasks": {"ss3": {"metric": "Q3", "level": "residue"}}, "runs": list(runs)}


def test_verdict_needs_non_overlapping_intervals():
    clear = results(run("onehot", "cnn", 0.66, 0.65, 0.67), run("blosum62", "cnn", 0.67, 0.66, 0.68),
                    run("lm", "cnn", 0.72, 0.71, 0.73))
    assert "beats every baseline" in verdicts(clear)[0]
    overlapping = results(run("onehot", "cnn", 0.66, 0.65, 0.67), run("lm", "cnn", 0.67, 0.66, 0.68))
    assert "not a clear win" in verdicts(overlapping)[0]
    worse = results(run("blosum62", "cnn", 0.67, 0.66, 0.68), run("lm", "cnn", 0.60, 0.59, 0.61))
    assert "does NOT beat blosum62" in verdicts(worse)[0]
    assert verdicts(results(run("onehot", "cnn", 0.66, 0.65, 0.67))) == []  # no LM row: no verdict


def test_markdown_table_formats_percent_and_mcc():
    r = results(run("lm", "cnn", 0.7234, 0.71, 0.73))
    r["tasks"]["disorder"] = {"metric": "MCC", "level": "residue"}
    r["runs"][0]["tasks"]["disorder"] = {"metrics": {"MCC": {"value": 0.41234, "ci95": [0.4, 0.43]}}}
    table = markdown_table(r)
    assert "| seqvec-mini | cnn | 72.3 [71.0, 73.0] | 0.412 [0.400, 0.430] |" in table
    assert table.splitlines()[0] == "| encoder | head | ss3 Q3 | disorder MCC |"
