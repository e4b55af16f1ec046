"""MoD invariants and KV-cache step equivalence."""
import math
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
torch.set_num_threads(2)

from kibitz_models.model.model import ConfigError, KibitzModel, ModelConfig  # noqa: E402

SMALL = dict(frame_width=128, frame_height=72, vision_channels=(8, 16, 32), d_model=64, n_layers=4,
             n_heads=4, n_kv_heads=2, mlp_hidden=96, routed_layers=[1, 3], vocab_size=64, grid_h=3, grid_w=8,
             stem_stride=2)


def small(**kw):
    torch.manual_seed(0)
    d = dict(SMALL)
    d.update(kw)
    return KibitzModel(ModelConfig(**d)).eval()


def interleaved(model, n_frames, text_after, gen):
    """Random sequence: bos, then frames, with text tokens after some frames.
    Returns embeds (1,T,d), pos, valid, frame_index (1,F,V), and the chunk list."""
    cfg = model.cfg
    V = cfg.tokens_per_frame
    chunks = [("text", model.embed(torch.tensor([[1]])))]
    for f in range(n_frames):
        chunks.append(("frame", torch.randn(1, V, cfg.d_model, generator=gen)))
        if f in text_after:
            ids = torch.randint(8, cfg.vocab_size, (1, text_after[f]), generator=gen)
            chunks.append(("text", model.embed(ids)))
    emb = torch.cat([c for _, c in chunks], dim=1)
    T = emb.shape[1]
    fidx, at = [], 0
    for kind, c in chunks:
        if kind == "frame":
            fidx.append(torch.arange(at, at + V))
        at += c.shape[1]
    return emb, torch.arange(T).unsqueeze(0), torch.ones(1, T, dtype=torch.bool), torch.stack(fidx).unsqueeze(0), chunks


class TestMoD(unittest.TestCase):
    def test_kept_count_per_frame(self):
        m = small()
        gen = torch.Generator().manual_seed(1)
        emb, pos, valid, fidx, _ = interleaved(m, 3, {0: 2}, gen)
        with torch.no_grad():
            _, routing = m.forward_sequence(emb, pos, valid, fidx, return_routing=True)
        k = math.ceil(0.2 * m.cfg.tokens_per_frame)
        self.assertEqual(m.cfg.kept_per_frame, k)
        self.assertEqual(len(routing), 2)
        for sel in routing:
            for f in range(3):
                self.assertEqual(int(sel[0, fidx[0, f]].sum()), k)
            text = torch.ones_like(sel[0])
            text[fidx.view(-1)] = False
            self.assertFalse(bool(sel[0][text].any()), "text tokens are never in the routing selection")

    def test_dense_when_r_is_1(self):
        m = small(keep_ratio=1.0)
        self.assertTrue(all(l.router is None for l in m.layers))
        self.assertEqual(m.cfg.kept_per_frame, m.cfg.tokens_per_frame)
        cost_dense = m.decoder_cost_per_frame()
        cost_mod = small().decoder_cost_per_frame()
        self.assertLess(cost_mod["flops"], cost_dense["flops"])
        self.assertEqual(cost_dense["kv_entries"], m.cfg.n_layers * m.cfg.tokens_per_frame)

    def test_unrouted_tokens_unchanged_through_routed_layer(self):
        m = small()
        gen = torch.Generator().manual_seed(2)
        V = m.cfg.tokens_per_frame
        x = torch.randn(2, V, m.cfg.d_model, generator=gen)
        pos = torch.arange(V).unsqueeze(0).repeat(2, 1)
        layer = m.layers[1]
        past = m.empty_past(2)[1]
        with torch.no_grad():
            # the routed branch of frame_step, for layer 1 alone
            scores = layer.router(x).squeeze(-1)
            idx = torch.sort(torch.topk(scores, m.cfg.kept_per_frame, dim=-1).indices, dim=-1).values
            _, out = m.frame_step(x, pos, m.empty_past(2))
        self.assertEqual(tuple(out[1][2].shape), (2, m.cfg.kept_per_frame))
        self.assertEqual(tuple(out[1][0].shape), (2, m.cfg.n_kv_heads, m.cfg.kept_per_frame, m.cfg.head_dim))
        # run the routed layer by hand and check that non-selected rows pass through unchanged
        gidx = idx.unsqueeze(-1).expand(-1, -1, m.cfg.d_model)
        with torch.no_grad():
            xs = torch.gather(x, 1, gidx)
            dx, _, _ = layer.delta(xs, torch.gather(pos, 1, idx), torch.ones_like(idx, dtype=torch.bool), *past)
            y = x.scatter(1, gidx, xs + torch.sigmoid(torch.gather(scores, 1, idx)).unsqueeze(-1) * dx)
        keep = torch.zeros(2, V, dtype=torch.bool).scatter_(1, idx, True)
        self.assertTrue(torch.equal(y[~keep], x[~keep]))
        self.assertFalse(torch.allclose(y[keep], x[keep]))

    def test_step_equivalence_with_cache(self):
        for r in (0.2, 1.0):
            m = small(keep_ratio=r)
            gen = torch.Generator().manual_seed(3)
            emb, pos, valid, fidx, chunks = interleaved(m, 4, {0: 3, 2: 1}, gen)
            with torch.no_grad():
                full = m.logits(m.forward_sequence(emb, pos, valid, fidx))   # (1, T, vocab)
                past = m.empty_past(1)
                at = 0
                for kind, c in chunks:
                    n = c.shape[1]
                    p = torch.arange(at, at + n).unsqueeze(0)
                    if kind == "frame":
                        logits, out = m.frame_step(c, p, past)
                        ref = full[:, at + n - 1]
                        past = [(torch.cat([pk, nk], 2), torch.cat([pv, nv], 2),
                                 torch.cat([pp, torch.gather(p, 1, ni)], 1),
                                 torch.cat([pm, torch.ones_like(ni, dtype=torch.bool)], 1))
                                for (pk, pv, pp, pm), (nk, nv, ni) in zip(past, out)]
                    else:
                        logits, out = m.text_step(c, p, past)
                        ref = full[:, at: at + n]
                        past = [(torch.cat([pk, nk], 2), torch.cat([pv, nv], 2), torch.cat([pp, p], 1),
                                 torch.cat([pm, torch.ones_like(p, dtype=torch.bool)], 1))
                                for (pk, pv, pp, pm), (nk, nv) in zip(past, out)]
                    self.assertLess(float((logits - ref).abs().max()), 1e-4, f"r={r} chunk at {at}")
                    at += n
            if r < 1:
                routed_len = past[1][0].shape[2]
                self.assertEqual(routed_len, 1 + 4 + 4 * m.cfg.kept_per_frame)  # bos + text + kept vision

    def test_padding_entries_are_ignored(self):
        m = small()
        gen = torch.Generator().manual_seed(4)
        V = m.cfg.tokens_per_frame
        x = torch.randn(1, V, m.cfg.d_model, generator=gen)
        pos = torch.arange(V).unsqueeze(0) + 10
        past = []
        padded = []
        for l in range(m.cfg.n_layers):
            k = torch.randn(1, 2, 5, m.cfg.head_dim, generator=gen)
            junk = torch.randn(1, 2, 3, m.cfg.head_dim, generator=gen) * 100
            p = torch.arange(5).unsqueeze(0)
            past.append((k, k, p, torch.ones(1, 5, dtype=torch.bool)))
            padded.append((torch.cat([k, junk], 2), torch.cat([k, junk], 2), torch.cat([p, p[:, :3]], 1),
                           torch.cat([torch.ones(1, 5, dtype=torch.bool), torch.zeros(1, 3, dtype=torch.bool)], 1)))
        with torch.no_grad():
            a, _ = m.frame_step(x, pos, past)
            b, _ = m.frame_step(x, pos, padded)
        self.assertLess(float((a - b).abs().max()), 1e-5)

    def test_bad_dimensions_fail_clearly(self):
        with self.assertRaisesRegex(ConfigError, "n_heads"):
            ModelConfig(d_model=100, n_heads=6).validate()
        with self.assertRaisesRegex(ConfigError, "grid"):
            ModelConfig(grid_h=5).validate()
        with self.assertRaisesRegex(ConfigError, "keep_ratio"):
            ModelConfig(keep_ratio=0.0).validate()


if __name__ == "__main__":
    unittest.main()
