"""`lstmlab serve` over real HTTP: a uvicorn process on a loopback port, spoken to by urllib,
httpx and the openai package, with runs of every kind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import httpx
import pytest

import lstmlab
import lstmlab.classify as classify
import lstmlab.forecast as forecast
from lstmlab.serve.engine import Engine, Outbox, Sampling, StopWatcher
from lstmlab.serve.events import DoneEvent, EngineEvent, ErrorEvent

from tests.serve.conftest import Server

pytestmark = pytest.mark.slow  # real `lstmlab serve` processes


def read_events(lines) -> list[dict]:
    """The JSON payloads of a server-sent event stream (data lines only)."""
    return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]


def streamed_text(events: list[dict], index: int = 0) -> str:
    return "".join(e["text"] for e in events if e["type"] == "text" and e["index"] == index)


# -- every endpoint, with each kind of run ---------------------------------------------------

def test_models_lists_every_run_by_name_and_kind(server):
    status, answer = server.get("/v1/models")
    assert status == 200 and answer["object"] == "list"
    kinds = {m["id"]: m["kind"] for m in answer["data"]}
    assert kinds == {"chars": "char-lm", "words": "word-lm", "imdb": "classifier", "airline": "forecaster"}
    by_name = {m["id"]: m for m in answer["data"]}
    assert by_name["imdb"]["classes"] == ["0", "1"] and by_name["airline"]["horizon"] == 12
    assert "lstm 64" in by_name["chars"]["summary"]
    status, health = server.get("/healthz")
    assert status == 200 and health["status"] == "ok" and health["models"] == 4 and health["streams"] == 0
    assert health["limits"]["max_length"] == 100_000  # clients can see what they may ask


def test_generation_matches_the_python_api_and_streams_the_same_text(server, char_run):
    body = {"model": "chars", "prompt": "ROMEO:", "length": 120, "temperature": 0.8, "top_k": 20, "seed": 7,
            "num_samples": 2}
    status, answer = server.post("/v1/generate", body)
    assert status == 200
    expected = lstmlab.load(char_run, device="cpu").generate("ROMEO:", length=120, temperature=0.8, top_k=20,
                                                             num_samples=2, seed=7)
    assert answer["prompt"] == "ROMEO:"
    assert [answer["prompt"] + s["text"] for s in answer["samples"]] == expected
    for sample in answer["samples"]:
        assert sample["finish_reason"] == "length"
        assert len(sample["surprise"]) == len(sample["text"]) == 120
        assert all(b >= 0 for b in sample["surprise"])
    with httpx.stream("POST", server.url + "/v1/generate", json={**body, "stream": True}, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response.iter_lines())
    assert events[0] == {"type": "start", "prompt": "ROMEO:"}
    assert events[-1]["type"] == "done" and events[-1]["finish_reasons"] == ["length", "length"]
    assert [streamed_text(events, i) for i in range(2)] == [s["text"] for s in answer["samples"]]


def test_stop_strings_end_a_sample_before_the_string(server):
    base = {"model": "chars", "prompt": "The ", "length": 300, "seed": 3, "temperature": 1.0}
    _, free = server.post("/v1/generate", base)
    text = free["samples"][0]["text"]
    stop = text[40:43]  # a string that appears, so the sample must end before its first occurrence
    _, cut = server.post("/v1/generate", {**base, "stop": [stop]})
    sample = cut["samples"][0]
    assert sample["finish_reason"] == "stop"
    assert sample["text"] == text[: text.index(stop)] and stop not in sample["text"]
    assert len(sample["surprise"]) == len(sample["text"])


def test_stop_watcher_holds_back_a_possible_stop_string_across_pieces():
    watcher = StopWatcher(("END",))
    assert watcher.add("abc", 1.0) == ("abc", [1.0, 1.0, 1.0])
    assert watcher.add("E", 2.0) == ("", [])  # could be the start of END
    assert watcher.add("x", 3.0) == ("Ex", [2.0, 3.0])  # it was not
    assert watcher.add("EN", 4.0) == ("", [])
    assert watcher.add("D!", 5.0) == ("", []) and watcher.stopped
    assert watcher.flush() == ("", []) and watcher.symbols == 5
    tail = StopWatcher(("END",))
    tail.add("xE", 1.0)
    assert tail.flush() == ("E", [1.0])  # at the end of generation the held-back tail is sent


def test_next_score_and_inspect_on_a_character_model(server, char_run):
    lm = lstmlab.load(char_run, device="cpu")
    status, answer = server.post("/v1/next", {"model": "chars", "text": "ROMEO", "top": 5})
    assert status == 200 and len(answer["next"]) == 5
    probs = lm.next_char_probs("ROMEO")
    expected = sorted(probs.items(), key=lambda kv: -kv[1])[:5]
    assert [(n["symbol"], round(n["prob"], 6)) for n in answer["next"]] == [(s, round(p, 6)) for s, p in expected]
    status, answer = server.post("/v1/score", {"model": "chars", "text": "To be, or not to be"})
    score = lm.evaluate("To be, or not to be")
    assert status == 200 and answer["chars"] == score.chars
    assert answer["bits_per_char"] == pytest.approx(score.bits_per_char, rel=1e-6)
    status, page = server.post("/v1/inspect", {"model": "chars", "text": "To be, or not"})
    assert status == 200 and page["text"] == "To be, or not" and page["cell"] == "lstm"
    assert len(page["surprise"]) == 13 and len(page["top_ids"]) == 14
    assert {"hidden", "cell", "forget"} <= set(page["layers"][0]["signals"])


def test_word_models_generate_next_and_score(server, word_run):
    lm = lstmlab.load(word_run, device="cpu")
    status, answer = server.post("/v1/generate", {"model": "words", "prompt": "he said that", "length": 12, "seed": 2})
    assert status == 200
    assert answer["prompt"] + answer["samples"][0]["text"] == lm.generate("he said that", length=12, seed=2)
    status, answer = server.post("/v1/next", {"model": "words", "text": "he said", "top": 3})
    assert status == 200 and [n["symbol"] for n in answer["next"]] == list(lm.next_word_probs("he said", top=3))
    status, answer = server.post("/v1/score", {"model": "words", "text": "he said that he would not go there"})
    assert status == 200 and answer["words"] > 0 and answer["perplexity"] > 1
    status, answer = server.post("/v1/inspect", {"model": "words", "text": "he said"})
    assert status == 200, answer


def test_classify_and_forecast(server, classifier_run, forecaster_run):
    texts = ["A wonderful, moving film.", "Terrible acting and a boring plot."]
    status, answer = server.post("/v1/classify", {"model": "imdb", "texts": texts})
    assert status == 200 and answer["classes"] == ["0", "1"]
    probs = classify.load(classifier_run, device="cpu").predict_proba(texts)
    for prediction, row in zip(answer["predictions"], probs):
        assert prediction["probs"] == pytest.approx({"0": row[0], "1": row[1]}, rel=1e-5)
        assert prediction["label"] == ("1" if row[1] > row[0] else "0")
    status, answer = server.post("/v1/forecast", {"model": "airline", "steps": 12, "interval": 0.8})
    assert status == 200
    frame = forecast.load(forecaster_run, device="cpu").predict(steps=12, interval=0.8)
    assert answer["forecast"]["mean"] == pytest.approx(frame["forecast"].tolist(), rel=1e-5)
    assert answer["forecast"]["lower"] == pytest.approx(frame["lower"].tolist(), rel=1e-5)
    assert answer["forecast"]["index"][0].startswith("1961-01")
    assert len(answer["history"]["values"]) == 144 and answer["history"]["index"][-1].startswith("1960-12")
    status, answer = server.post("/v1/generate", {"model": "imdb", "prompt": "x"})
    assert status == 400 and "classifier" in answer["error"]["message"]


# -- continuous batching ----------------------------------------------------------------------

async def stream_text(client: httpx.AsyncClient, body: dict) -> str:
    async with client.stream("POST", "/v1/generate", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        return streamed_text(read_events([line async for line in response.aiter_lines()]))


def test_a_seeded_stream_writes_the_same_text_alone_and_beside_seven_others(server):
    target = {"model": "chars", "prompt": "KING:", "length": 400, "temperature": 0.9, "top_p": 0.95, "seed": 11}

    async def together() -> tuple[str, list[str]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            alone = await stream_text(client, target)
            others = [{**target, "prompt": f"Voice {i}:", "seed": 100 + i, "length": 200 + 50 * i,
                       "temperature": 0.5 + 0.1 * i} for i in range(7)]
            results = await asyncio.gather(*(stream_text(client, b) for b in [*others[:3], target, *others[3:]]))
            return alone, results

    alone, results = asyncio.run(together())
    assert len(alone) == 400 and results[3] == alone
    assert len(set(results)) == 8


def test_a_failing_step_ends_its_requests_with_an_error_and_frees_their_rows(char_run, monkeypatch):
    lm = lstmlab.load(char_run, device="cpu")
    engine = Engine(lm, max_rows=4)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    async def run_one() -> list[EngineEvent]:
        outbox = Outbox(asyncio.get_running_loop())
        assert engine.submit("ROMEO:", Sampling(length=50, seed=1), outbox) is not None
        items: list[EngineEvent] = []
        while not items or not items[-1].final:
            items += await asyncio.wait_for(outbox.take(), 10)
        return items

    try:
        monkeypatch.setattr(lm.model, "features", broken)  # reading the prompt fails
        items = asyncio.run(run_one())
        assert items[-1] == ErrorEvent("generation failed: out of memory")
        assert engine.streams == 0
        monkeypatch.undo()  # and the worker goes on serving
        items = asyncio.run(run_one())
        assert isinstance(items[-1], DoneEvent) and engine.streams == 0
    finally:
        engine.close()


# -- bad requests ----------------------------------------------------------------------------

BAD_REQUESTS = [
    ("malformed JSON", "/v1/generate", b'{"model": "chars", "length": 10', 400, "not valid JSON"),
    ("not an object", "/v1/generate", b"[1, 2]", 400, "JSON object"),
    ("no body", "/v1/score", b"", 400, "needs a JSON body"),
    ("wrong type", "/v1/generate", {"model": "chars", "length": "ten"}, 422, "length: input should be a valid integer"),
    ("a float count", "/v1/generate", {"model": "chars", "num_samples": 2.5}, 422, "num_samples"),
    ("negative length", "/v1/generate", {"model": "chars", "length": -1}, 422, "greater than or equal to 0"),
    ("negative temperature", "/v1/generate", {"model": "chars", "temperature": -0.5}, 422, "temperature"),
    ("huge length", "/v1/generate", {"model": "chars", "length": 10**9}, 422, "--max-length"),
    ("huge num_samples", "/v1/generate", {"model": "chars", "num_samples": 1000}, 422, "--max-samples"),
    ("top_p over 1", "/v1/generate", {"model": "chars", "top_p": 1.5}, 422, "top_p"),
    ("misspelt field", "/v1/generate", {"model": "chars", "temprature": 1}, 422, "unknown field 'temprature'"),
    ("missing model", "/v1/score", {"text": "abc"}, 422, "model is missing"),
    ("unknown model", "/v1/generate", {"model": "nope"}, 404, "no model named 'nope'"),
    ("empty text to score", "/v1/score", {"model": "chars", "text": ""}, 422, "text is empty"),
    ("text too short to score", "/v1/score", {"model": "chars", "text": "a"}, 422, "fewer than 2"),
    ("empty inspect", "/v1/inspect", {"model": "chars", "text": ""}, 422, "text is empty"),
    ("no texts", "/v1/classify", {"model": "imdb", "texts": []}, 422, "texts is empty"),
    ("empty text to classify", "/v1/classify", {"model": "imdb", "texts": ["ok", ""]}, 422, "texts[1] is empty"),
    ("forecast steps 0", "/v1/forecast", {"model": "airline", "steps": 0}, 422, "steps"),
    ("unknown path", "/v2/generate", {"model": "chars"}, 404, "/v1"),
]


@pytest.mark.parametrize("name,path,body,status,message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_a_4xx_with_a_one_line_json_message(server, name, path, body, status, message):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    got, answer = server.post(path, None, raw=raw)
    assert got == status, answer
    text = answer["error"]["message"]
    assert message in text and "\n" not in text and "Traceback" not in text
    assert server.get("/healthz")[0] == 200  # and the server goes on


def test_a_body_over_the_limit_is_refused(server):
    status, answer = server.post("/v1/score", {"model": "chars", "text": "a" * 1_100_000})
    assert status == 413 and "--max-body-bytes" in answer["error"]["message"]
    # Sent in chunks without a Content-Length, too.
    with httpx.Client(base_url=server.url, timeout=30) as client:
        chunks = iter([b'{"model": "chars", "text": "'] + [b"a" * 100_000] * 12 + [b'"}'])
        answer = client.post("/v1/score", content=chunks, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


@pytest.fixture(scope="module")
def guarded(char_run):
    """A server with an API key (from the environment), a small body limit, two streams at most, and
    samples long enough to be still generating while a test looks."""
    running = Server([f"chars={char_run}", "--max-body-bytes", "2000", "--max-streams", "2",
                      "--max-length", "10000000"],
                     env={"LSTMLAB_API_KEY": "s3cret"})
    yield running
    running.stop()


def test_the_api_key_is_enforced_except_for_health_and_the_page(guarded):
    status, answer = guarded.get("/v1/models")
    assert status == 401 and "Authorization: Bearer" in answer["error"]["message"]
    assert guarded.get("/v1/models", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert guarded.get("/v1/models", headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert guarded.get("/healthz")[0] == 200
    with httpx.Client(base_url=guarded.url) as client:
        assert client.get("/").status_code == 200


GUARDED_KEY = {"Authorization": "Bearer s3cret"}


@contextlib.contextmanager
def generating_two_samples(guarded):
    """A stream of two very long samples on the guarded server, open until the block ends
    and already writing when it starts."""
    with httpx.stream("POST", guarded.url + "/v1/generate", headers=GUARDED_KEY, timeout=60,
                      json={"model": "chars", "length": 10_000_000, "num_samples": 2, "stream": True}) as response:
        # Keep the line iterator: dropping it would close the response, and the server would
        # rightly cancel the stream.
        lines = response.iter_lines()
        next(line for line in lines if '"type":"text"' in line)
        assert guarded.get("/healthz")[1]["streams"] == 2  # both samples are in the batch
        yield


def test_a_client_that_disconnects_cancels_its_stream_and_the_batch_shrinks(guarded):
    with generating_two_samples(guarded):
        pass
    deadline = time.monotonic() + 10
    while guarded.get("/healthz")[1]["streams"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert guarded.get("/healthz")[1]["streams"] == 0


def test_streams_beyond_the_limit_get_429(guarded):
    with generating_two_samples(guarded):
        status, answer = guarded.post("/v1/generate", {"model": "chars", "length": 5}, headers=GUARDED_KEY)
        assert status == 429 and "--max-streams" in answer["error"]["message"], (status, answer)
    assert guarded.post("/v1/score", {"model": "chars", "text": "x" * 3000}, headers=GUARDED_KEY)[0] == 413


# -- the OpenAI completions API, through the openai package ----------------------------------

def test_openai_client_completions_streaming_and_not(server):
    openai = pytest.importorskip("openai", reason="the openai package is a test dependency (pip install -e '.[dev]')")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    assert "chars" in [m.id for m in client.models.list()]
    completion = client.completions.create(model="chars", prompt="ROMEO:", max_tokens=60, temperature=0.7,
                                           n=2, seed=5)
    texts = [choice.text for choice in sorted(completion.choices, key=lambda c: c.index)]
    assert len(texts) == 2 and all(len(t) == 60 for t in texts) and texts[0] != texts[1]
    assert completion.usage.prompt_tokens == 6 and completion.usage.completion_tokens == 120
    _, answer = server.post("/v1/generate", {"model": "chars", "prompt": "ROMEO:", "length": 60, "temperature": 0.7,
                                             "num_samples": 2, "seed": 5})
    assert texts == [s["text"] for s in answer["samples"]]
    pieces = {0: "", 1: ""}
    reasons = {}
    for chunk in client.completions.create(model="chars", prompt="ROMEO:", max_tokens=60, temperature=0.7, n=2,
                                           seed=5, stream=True):
        for choice in chunk.choices:
            pieces[choice.index] += choice.text
            if choice.finish_reason:
                reasons[choice.index] = choice.finish_reason
    assert [pieces[0], pieces[1]] == texts and reasons == {0: "length", 1: "length"}
    one = client.completions.create(model="chars", prompt="ROMEO:", max_tokens=60, temperature=0.7, seed=5).choices[0]
    stop = one.text[10:12]
    stopped = client.completions.create(model="chars", prompt="ROMEO:", max_tokens=60, temperature=0.7, seed=5,
                                        stop=[stop]).choices[0]
    assert stopped.finish_reason == "stop" and stopped.text == one.text[: one.text.index(stop)]
    with pytest.raises(openai.NotFoundError, match="no model named"):
        client.completions.create(model="missing", prompt="x", max_tokens=3)


# -- load -------------------------------------------------------------------------------------

def test_fifty_clients_ten_requests_each_and_health_answers_throughout(server):
    clients, requests_each = 50, 10
    health_times: list[float] = []
    done = threading.Event()

    def watch_health():
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not done.is_set():
                start = time.monotonic()
                assert client.get("/healthz").status_code == 200
                health_times.append(time.monotonic() - start)
                time.sleep(0.05)

    async def one_client(client: httpx.AsyncClient, number: int) -> list[int]:
        statuses = []
        for i in range(requests_each):
            body = {"model": "chars", "prompt": f"{number}:{i}", "length": 30, "seed": i}
            if i % 3 == 2:
                async with client.stream("POST", "/v1/generate", json={**body, "stream": True}) as response:
                    events = read_events([line async for line in response.aiter_lines()])
                    assert len(streamed_text(events)) == 30
                    statuses.append(response.status_code)
            else:
                response = await client.post("/v1/generate", json=body)
                assert len(response.json()["samples"][0]["text"]) == 30
                statuses.append(response.status_code)
        return statuses

    async def load() -> list[int]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            results = await asyncio.gather(*(one_client(client, n) for n in range(clients)))
        return [s for statuses in results for s in statuses]

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    try:
        statuses = asyncio.run(load())
    finally:
        done.set()
        watcher.join()
    assert statuses == [200] * (clients * requests_each)
    assert len(health_times) >= 3 and max(health_times) < 2.0


# -- start-up ---------------------------------------------------------------------------------

def test_listening_beyond_this_machine_warns(char_run):
    open_server = Server([f"chars={char_run}", "--host", "0.0.0.0"])
    assert open_server.get("/healthz")[0] == 200
    _, err = open_server.stop()
    assert "warning: listening on 0.0.0.0 lets other machines reach this server" in err
    assert "--api-key" in err


def test_missing_or_corrupt_runs_fail_before_the_server_starts(cli, tmp_path, char_run):
    code, out, err = cli("serve", str(tmp_path / "absent"))
    assert code == 2 and err.count("\n") == 1 and "no such run folder" in err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    code, out, err = cli("serve", str(broken))
    assert code == 2 and err.count("\n") == 1 and "not valid JSON" in err
    code, out, err = cli("serve", f"a={char_run}", f"a={char_run}")
    assert code == 2 and "two runs would be served as 'a'" in err
    code, out, err = cli("serve", f"bad/name={char_run}")
    assert code == 2 and "NAME=RUN" in err
