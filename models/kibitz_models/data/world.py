"""A deterministic, seeded game-like broadcast: a player collects coloured gems, enemies fly in,
hits cost lives, levels change every 100 points, game over and a new game. Simulated at 30 ticks/s
in 1280x720 coordinates; every event is logged with its exact time and attributes.

The renderer (render.py) only draws what a viewer would see (HUD, sprites, popups, banners);
nothing else of the state reaches the pixels.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional

TICK_HZ = 30
W, H, HUD_H = 1280, 720, 100
COLOURS = ["red", "green", "blue", "yellow"]
POINTS = {"red": 10, "green": 10, "blue": 10, "yellow": 20}
LEVEL_EVERY = 100
START_LIVES = 3
GAME_OVER_S = 3.0


@dataclass
class Gem:
    x: float
    y: float
    colour: str


@dataclass
class Enemy:
    x: float
    y: float
    vx: float
    vy: float
    born: float


@dataclass
class Popup:
    kind: str          # "points" | "hit" | "level" | "game_over" | "new_game" | "spawn"
    t0: float
    dur: float
    x: float = 0.0
    y: float = 0.0
    text: str = ""
    colour: str = ""


@dataclass
class State:
    t: float
    score: int
    lives: int
    level: int
    px: float
    py: float
    gems: List[Gem]
    enemies: List[Enemy]
    popups: List[Popup]
    over: bool


@dataclass
class Event:
    t: float
    kind: str          # pickup | spawn | hit | level | game_over | new_game
    attrs: Dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return event_text(self.kind, self.attrs)

    def to_dict(self) -> dict:
        return {"t": round(self.t, 4), "kind": self.kind, "attrs": self.attrs, "text": self.text}


def event_text(kind: str, attrs: Dict) -> str:
    if kind == "pickup":
        return f"the player picks up a {attrs['colour']} gem"
    if kind == "spawn":
        return "an enemy appears"
    if kind == "hit":
        return "the player is hit"
    if kind == "level":
        return f"level {attrs['level']} begins"
    if kind == "game_over":
        return "game over"
    if kind == "new_game":
        return "a new game begins"
    raise ValueError(kind)


class World:
    """Simulate `seconds` of broadcast for `seed`; `state_at(t)` gives what is on screen at t."""

    def __init__(self, seed: int, seconds: float):
        self.seed, self.seconds = seed, seconds
        self.rng = random.Random(seed)
        self.events: List[Event] = []
        self.states: List[State] = []
        self._simulate()

    # ------------------------------------------------------------------ simulation
    def _simulate(self) -> None:
        r = self.rng
        dt = 1.0 / TICK_HZ
        score, lives, level = 0, START_LIVES, 1
        px, py = W / 2, (H + HUD_H) / 2
        gems: List[Gem] = []
        enemies: List[Enemy] = []
        popups: List[Popup] = []
        over_until: Optional[float] = None
        next_gem = 0.5 + r.uniform(0, 1.0)
        next_enemy = 2.0 + r.uniform(0, 3.0)
        invuln_until = 0.0
        wander = (r.uniform(100, W - 100), r.uniform(HUD_H + 80, H - 80))
        n_ticks = int(round(self.seconds * TICK_HZ)) + 1
        for tick in range(n_ticks):
            t = tick * dt
            popups = [p for p in popups if t < p.t0 + p.dur]
            if over_until is not None:
                if t >= over_until:
                    over_until = None
                    score, lives, level = 0, START_LIVES, 1
                    px, py = W / 2, (H + HUD_H) / 2
                    self.events.append(Event(t, "new_game", {}))
                    popups.append(Popup("new_game", t, 1.2, W / 2, H / 2, "NEW GAME"))
                    next_gem, next_enemy = t + 0.7, t + 3.0 + r.uniform(0, 2)
            else:
                speed_e = 150 + 25 * (level - 1)
                # gems spawn (not an event: a viewer sees them, the commentary is about pickups)
                if t >= next_gem:
                    if len(gems) < 2:
                        for _ in range(20):
                            gx, gy = r.uniform(90, W - 90), r.uniform(HUD_H + 70, H - 60)
                            if math.hypot(gx - px, gy - py) > 260:
                                break
                        gems.append(Gem(gx, gy, r.choice(COLOURS)))
                    next_gem = t + r.uniform(2.5, 5.0)
                if t >= next_enemy:
                    side = r.randrange(4)
                    if side == 0:
                        ex, ey = -30.0, r.uniform(HUD_H + 60, H - 60)
                    elif side == 1:
                        ex, ey = W + 30.0, r.uniform(HUD_H + 60, H - 60)
                    elif side == 2:
                        ex, ey = r.uniform(80, W - 80), HUD_H - 30.0
                    else:
                        ex, ey = r.uniform(80, W - 80), H + 30.0
                    # aim near the player: some fly past, some hit
                    ax, ay = px + r.uniform(-90, 90), py + r.uniform(-70, 70)
                    d = max(1.0, math.hypot(ax - ex, ay - ey))
                    enemies.append(Enemy(ex, ey, speed_e * (ax - ex) / d, speed_e * (ay - ey) / d, t))
                    self.events.append(Event(t, "spawn", {}))
                    popups.append(Popup("spawn", t, 0.8, min(max(ex, 40), W - 40), min(max(ey, HUD_H + 40), H - 40), "!"))
                    next_enemy = t + r.uniform(4.0, 8.0) / (1 + 0.1 * (level - 1))
                # player AI: walk to the oldest gem, else wander
                tx, ty = (gems[0].x, gems[0].y) if gems else wander
                d = math.hypot(tx - px, ty - py)
                if not gems and d < 20:
                    wander = (r.uniform(100, W - 100), r.uniform(HUD_H + 80, H - 80))
                step = min(d, 150 * dt)
                if d > 0:
                    px += step * (tx - px) / d
                    py += step * (ty - py) / d
                for g in list(gems):
                    if math.hypot(g.x - px, g.y - py) < 40:
                        gems.remove(g)
                        old_level = level
                        score += POINTS[g.colour]
                        self.events.append(Event(t, "pickup", {"colour": g.colour, "points": POINTS[g.colour], "score": score}))
                        popups.append(Popup("points", t, 1.0, g.x, g.y - 50, f"+{POINTS[g.colour]}", g.colour))
                        level = 1 + score // LEVEL_EVERY
                        if level != old_level:
                            self.events.append(Event(t, "level", {"level": level}))
                            popups.append(Popup("level", t, 1.5, W / 2, H / 2, f"LEVEL {level}"))
                for e in enemies:
                    e.x += e.vx * dt
                    e.y += e.vy * dt
                enemies = [e for e in enemies if -60 <= e.x <= W + 60 and HUD_H - 60 <= e.y <= H + 60]
                if t >= invuln_until:
                    for e in list(enemies):
                        if math.hypot(e.x - px, e.y - py) < 62:
                            enemies.remove(e)
                            lives -= 1
                            invuln_until = t + 1.5
                            self.events.append(Event(t, "hit", {"lives": lives}))
                            popups.append(Popup("hit", t, 1.0, px, py, "HIT"))
                            if lives == 0:
                                self.events.append(Event(t, "game_over", {"score": score}))
                                popups.append(Popup("game_over", t, GAME_OVER_S, W / 2, H / 2, "GAME OVER"))
                                over_until = t + GAME_OVER_S
                                gems, enemies = [], []
                            break
            self.states.append(State(t, score, lives, level, px, py,
                                     [Gem(g.x, g.y, g.colour) for g in gems],
                                     [Enemy(e.x, e.y, e.vx, e.vy, e.born) for e in enemies],
                                     list(popups), over_until is not None))

    # ------------------------------------------------------------------ queries
    def state_at(self, t: float) -> State:
        i = min(len(self.states) - 1, max(0, int(math.floor(t * TICK_HZ + 1e-6))))
        return self.states[i]

    def events_between(self, t0: float, t1: float) -> List[Event]:
        """Events with t0 < t <= t1."""
        return [e for e in self.events if t0 < e.t <= t1]

    def visible_enemies(self, t: float) -> int:
        return sum(1 for e in self.state_at(t).enemies if 0 <= e.x <= W and HUD_H <= e.y <= H)

    def ground_truth(self) -> dict:
        return {"seed": self.seed, "seconds": self.seconds, "events": [e.to_dict() for e in self.events]}
