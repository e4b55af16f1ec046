"""The words the question classifier learns from (phrasings.py expands them): per game, each
question kind's label (for the honest "I can answer ..." line), example phrasings (manifest) and
templates; and questions no closed package answers. A template is text with {slot}s; a slot is a
list of alternatives, themselves templates. Templates are cross-validated in folds (phrasings.py);
slots are shared by all folds.

Written from how chat talks, not from the held-out sets (models/tests/question_sets/), which no
code here reads; `cli questions-check` measures how close they came anyway."""
from __future__ import annotations

SLOTS = {
    "whatis": ["what is", "what's", "whats", "wats", "wat is", "what s", "whut is", "what is the", "whats the"],
    "what": ["what", "wat", "wut", "whut"],
    "howmany": ["how many", "how many", "how many", "hw many", "how manny", "how much", "number of", "no of", "count of"],
    "player": ["the player", "the player", "he", "she", "they", "the guy", "the character", "the hero", "the dude", "our guy",
               "the little guy", "the player character", "him", "them", "homie", "the runner"],
    "playerposs": ["the player's", "the players", "his", "her", "their", "the guy's", "the hero's"],
    "now": ["now", "right now", "rn", "currently", "at the moment", "atm", "at this point", "so far", "as of now", "still"],
    "screen": ["on screen", "on the screen", "on-screen", "visible", "in view", "showing", "out there", "in the level",
               "on the map", "up there", "in the picture", "around"],
    "arethere": ["are there", "r there", "are there", "are", "is there", "are out", "are currently", "do we have", "can i see",
                 "can you see", "can u see", "do you see"],
    "doesplayer": ["does the player", "does he", "do they", "does she", "does the guy", "do we", "does the character"],
    "have": ["have", "has", "got", "have got", "has got", "hold"],
    "isit": ["is it", "is this", "are we on", "are they on", "is he on", "is that"],
    "last": ["last", "last", "most recent", "latest", "previous", "recent", "newest", "final"],
    "colour": ["colour", "color", "color", "colour", "colr", "colur", "shade", "col"],
    "pick": ["pick up", "grab", "collect", "get", "take", "snag", "pick", "nab", "grab up"],
    "picked": ["picked up", "grabbed", "collected", "got", "took", "snagged", "picked", "nabbed"],
    "hit": ["hit", "damaged", "hurt", "struck", "hit by an enemy", "touched by an enemy", "harmed"],
    "gethit": ["get hit", "take a hit", "take damage", "get damaged", "get hurt", "lose a life", "get touched", "take a hit"],
    "gothit": ["got hit", "took a hit", "took damage", "got damaged", "got hurt", "lost a life", "was hit", "got tagged"],
    "enemies": ["enemies", "enemies", "enemys", "enemy", "baddies", "bad guys", "monsters", "foes", "mobs", "hostiles",
                "creeps", "bad dudes", "opponents", "villains"],
    "gems": ["gems", "gems", "gem", "jewels", "crystals", "diamonds", "gemstones", "gemz", "jems", "treasures"],
    "lives": ["lives", "lives", "lives", "life", "lifes", "hearts", "lives", "extra lives", "tries", "chances", "1ups"],
    "left": ["left", "remaining", "remain", "to go", "still left", "in stock", "in reserve", "they have left"],
    "level": ["level", "level", "lvl", "stage", "levle", "round", "world"],
    "score": ["score", "score", "scroe", "points", "pts", "point total", "total", "scoreboard"],
    # chess
    "side": ["which side", "what side", "which player", "what colour", "what color", "which colour", "who", "white or black"],
    "moves": ["moves", "plays", "goes", "is to move", "is to play", "is up", "is moving", "has to move"],
    "next": ["next", "now", "", "right now", "this turn", "next up"],
    "turn": ["turn", "move", "go", "turn to move", "move is it"],
    "captured": ["captured", "took", "took a piece", "made a capture", "captured a piece", "took something", "captured something"],
    "capture": ["capture", "take", "capture a piece", "take a piece", "take something"],
    "capturenoun": ["capture", "take", "capture", "piece taken", "trade", "kill"],
    "lastadv": ["last", "most recently", "recently", "just now", "latest", "before", "last time", "lately"],
    "white": ["white", "whites", "white's"],
    "black": ["black", "blacks", "black's"],
}

# kind -> (label, examples, templates). The canonical question (what the decoder and recall were
# trained on) is the game's own QUESTIONS[kind][0] (games/catalogue.py).
KINDS = {
    "demo": {
        "score": ("the score", ["what's the score?", "how many points?"], [
            "{whatis} the score", "{whatis} {playerposs} score", "score", "{howmany} points", "{howmany} points {doesplayer} {have}",
            "the score", "{whatis} the current score", "current score", "score {now}", "how high is the score",
            "{whatis} the {score} {now}", "{whatis} the {score}", "points {now}", "{score} check", "how many points {now}",
            "{howmany} points {have} {player} scored", "what {score} {isit}", "the {score} is what", "{score}", "{whatis} the point count",
            "how many points did {player} get", "{score} pls", "whats on the scoreboard", "how many points is {player} on", "{player} has how many points",
            "{score} so far", "points so far", "how many points so far", "{whatis} the tally", "{score} is", "how many points {have} {player} got {now}",
            "{whatis} the {score} looking like", "what are the points", "how is the {score}", "how many points has {player} made",
        ]),
        "lives": ("lives", ["how many lives are left?", "how many lives?"], [
            "{howmany} {lives} {left}", "{howmany} {lives} {doesplayer} {have}", "{lives} {left}", "{lives}", "{howmany} lives",
            "{howmany} {lives} {doesplayer} {have} {left}", "{whatis} the {lives} count", "{howmany} {lives} {now}", "{howmany} {lives} {have} {player} got",
            "remaining {lives}", "{lives} remaining", "{howmany} {lives} are {left}", "how many lives {player} got", "{howmany} {lives} {doesplayer} still {have}",
            "{howmany} {lives} {left} for {player}", "{lives} count", "how many more {lives}", "how many {lives} are there", "{playerposs} {lives}",
            "{whatis} {playerposs} lives", "how many hearts {doesplayer} {have}", "number of lives", "lives {now}", "{howmany} {lives} does {player} have",
        ]),
        "level": ("the level", ["what level is it?", "which level?"], [
            "{whatis} the {level}", "which {level} {isit}", "{level}", "{whatis} the current {level}", "which {level} are they on",
            "what {level} {isit}", "what {level} {isit} {now}", "{level} {now}", "{whatis} the {level} number", "current {level}",
            "which {level} is {player} on", "what {level} is {player} in", "{level} number", "{whatis} {playerposs} {level}",
            "what {level} are we at", "{level} pls", "the {level} is what", "which {level} did {player} reach", "how far is {player}, which {level}",
            "{whatis} the {level} {now}", "what {level} we at", "what {level} is this one", "on which {level}", "{level} check",
        ]),
        "enemies": ("enemies on screen", ["how many enemies are on screen?", "how many enemies?"], [
            "{howmany} {enemies} {arethere} {screen}", "{howmany} {enemies}", "{enemies} count", "{howmany} {enemies} {screen}",
            "{howmany} {enemies} {arethere}", "count the {enemies}", "{howmany} {enemies} {now}", "{enemies} {screen}",
            "{howmany} {enemies} {arethere} {now}", "number of {enemies} {screen}", "{howmany} {enemies} {arethere} chasing {player}",
            "{howmany} {enemies} are around {player}", "{whatis} the {enemies} count", "how many {enemies} {screen} {now}",
            "{enemies} how many", "{howmany} {enemies} left {screen}", "{howmany} {enemies} are there in total", "count {enemies}",
            "{enemies}", "{howmany} {enemies} {doesplayer} see", "{howmany} {enemies} do you count", "{enemies} on screen count",
        ]),
        "gems": ("gems on screen", ["how many gems are on screen?", "how many gems?"], [
            "{howmany} {gems} {arethere} {screen}", "{howmany} {gems}", "{gems} count", "{howmany} {gems} {screen}",
            "{howmany} {gems} {arethere}", "count the {gems}", "{howmany} {gems} {now}", "{gems} {screen}",
            "{howmany} {gems} {arethere} {now}", "number of {gems} {screen}", "{howmany} {gems} {arethere} to collect",
            "{howmany} {gems} can {player} {pick}", "{whatis} the {gems} count", "how many {gems} {screen} {now}",
            "{gems} how many", "{howmany} {gems} left {screen}", "{howmany} {gems} are there in total", "count {gems}",
            "{gems}", "{howmany} {gems} {doesplayer} see", "{howmany} {gems} do you count", "{howmany} {gems} are out",
        ]),
        "last_gem": ("the last gem's colour", ["what colour was the last gem?", "what color was the last gem?"], [
            "{whatis} the {colour} of the {last} gem", "what {colour} was the {last} gem", "{last} gem {colour}",
            "what {colour} gem did {player} {pick} {lastadv}", "what {colour} was the gem {player} {picked}", "{colour} of {last} gem",
            "which gem did {player} {pick} {lastadv}", "what {colour} was the {last} gem {player} {picked}", "the {last} gem was what {colour}",
            "{last} gem", "what was the {last} gem", "{whatis} the {last} gem {colour}", "which {colour} was the {last} gem",
            "{colour} of the gem {player} just {picked}", "what gem did {player} just {pick}", "which {colour} did {player} {pick} {lastadv}",
            "the gem {player} {picked} {lastadv}, what {colour}", "{last} {gems} {colour}", "what {colour} {gems} was {picked} {lastadv}",
            "{whatis} the {colour} of the gem that was {picked}", "{last} gem {picked} was which {colour}", "what kind of gem was the {last} one",
        ]),
        "what_happened": ("what just happened", ["what just happened?", "what happened?"], []),   # WHAT_HAPPENED below
        "when_hit": ("when the player was last hit", ["when was the player last hit?", "when was the player hit?"], [
            "when was {player} {last} {hit}", "when did {player} {last} {gethit}", "when did {player} {gethit} {lastadv}",
            "{last} time {player} {gothit}", "when did {player} {gethit}", "{what} time was {player} {hit}", "how long ago was {player} {hit}",
            "when was the {last} hit", "{last} hit when", "when {player} {gothit}", "at what second did {player} {gethit}",
            "when did the {last} hit happen", "when was {player} {hit} {lastadv}", "{what} second was the {last} hit",
            "when did {player} {gethit} {lastadv}", "when was {player} {last} {hit} by an enemy", "{last} time {player} was {hit}",
            "how many seconds ago did {player} {gethit}", "when {gothit} {player} {lastadv}", "time of the {last} hit",
            "when did an enemy hit {player}", "at what time was {player} {hit}", "when did {player} {gothit}",
        ]),
    },
    "chess": {
        "to_move": ("whose move it is", ["whose move is it?", "whose turn is it?"], [
            "whose {turn} {isit}", "who {moves} {next}", "{side} {moves} {next}", "whose {turn}", "{whatis} the side to move",
            "who is to move", "who is to play", "whos {turn}", "who's {turn}", "{isit} {white} {turn} or {black} {turn}", "{white} or {black} to move",
            "{isit} {white} to move", "{isit} {black} to play", "who plays {next}", "who goes {next}", "who has the move", "whose {turn} {now}",
            "{side} is on the move", "{side} to move", "whose move is it {now}", "{turn} of which side", "{side} has to move {next}",
            "who needs to move {next}", "whose turn to play", "who is moving {next}", "which colour moves {next}",
            "who is up {next}", "whose {turn} is it {now}", "is it {white} or {black} {now}", "{white} to play or {black} to play",
            "which one moves {next}", "waiting on which side", "who needs to play", "which side is thinking", "who is on move",
            "side to move", "which colour has the move", "is it {black} {turn}", "who must move", "who should move {next}", "{turn}",
        ]),
        "what_happened": ("what just happened", ["what just happened?", "what happened?"], []),
        "last_capture": ("who made the last capture", ["who made the last capture?", "who captured last?"], [
            "who {captured} {lastadv}", "who made the {last} {capturenoun}", "{side} {captured} {lastadv}", "who took a piece {lastadv}",
            "{last} {capturenoun} by who", "who got the {last} {capturenoun}", "{side} made the {last} {capturenoun}",
            "who was the {last} to {capture}", "who has {captured} {lastadv}", "{last} {capturenoun}", "who took the {last} piece",
            "{whatis} the {last} {capturenoun}", "who did the {last} {capturenoun}", "{side} got the {last} {capturenoun}",
            "the {last} {capturenoun} was by {side}", "{side} {captured} most recently", "who {captured} the {last} piece",
            "who {captured} {lastadv} {white} or {black}", "{last} {capturenoun} was {white} or {black}", "who {captured} just now",
            "{last} piece taken by which side", "which side took {lastadv}", "who was the {last} one to {capture}", "who won the {last} exchange",
            "the {last} piece was taken by who", "who took {lastadv}", "by whom was the {last} piece taken", "which colour took the {last} piece",
            "who has just {captured}", "who did the taking {lastadv}", "whose {capturenoun} was the {last} one", "who was it that {captured} {lastadv}",
        ]),
    },
}

WHAT_HAPPENED = [
    "{what} just happened", "{what} happened", "{what} happened {there}", "{what} was that", "what did i miss", "{whatis} going on",
    "{whatis} happening", "{what} just went on", "did anything happen", "{what} occurred", "{what} just occurred", "huh {what} happened",
    "{what} the heck happened", "{what} did {player} just do", "{what} happened {lastadv}", "anything happen {lastadv}",
    "{what} happened to {player}", "{what} happened {there} lol", "whats up with that", "{what} was that about", "{what} happend",
    "{what} just happend", "explain what happened", "{what} did i just see", "{what} happened in the {lastadv} few seconds",
    "{what} went down", "{what} is happening {now}", "{what} happened {there} {now}", "why did that happen, what was it",
    "{whatis} the {last} thing that happened", "{what} was the {last} event", "anything new", "{what} did you see {lastadv}",
    "{what} was going on {there}", "catch me up", "recap", "fill me in", "i missed that {what} happened", "{what} was the {last} thing you saw",
    "whats new", "{what} did {player} just do {there}", "{what} happened {lastadv} on screen", "did something happen", "{what} was that {there}",
]
SLOTS["there"] = ["there", "just now", "now", "right there", "right now", "a moment ago", "a second ago", "there exactly"]

# Questions outside every closed package: kinds of talk chat has, each a list of templates.
OUT_OF_SCOPE = {
    "other_games": [
        "{whatis} this game", "what game is {this}", "{isthis} {game}", "{whatis} your rank in {game}", "how many kills {doesplayer} {have}",
        "who is winning the match", "what {game} skin is that", "when does {game} come out", "how many wins do you have",
        "{whatis} the kd ratio", "is this multiplayer", "what platform is this on", "is this on steam", "how much does this game cost",
        "what {level} are you in {game}", "whats your {score} in {game}", "do you play {game}", "can we play {game} next",
        "what engine is this made in", "is this a mobile game", "who made this game", "is this game free", "is this the new {game}",
        "{whatis} the high score ever", "what is the world record", "what's the best build", "{howmany} players are online",
    ],
    "streamer": [
        "who is the streamer", "{whatis} the streamers name", "how old is the streamer", "where does the streamer live",
        "is the streamer {adj}", "when is the next stream", "how long has the stream been live", "{whatis} the stream schedule",
        "are you live", "how many followers {doesplayer} {have}", "how many subs", "how many viewers are there", "who is the mod",
        "can i be a mod", "whats your setup", "what {gear} do you use", "when did you start streaming", "what time does the stream end",
        "are you streaming tomorrow", "why is the stream lagging", "is the stream delayed", "how many hours have you streamed",
        "whats your discord", "where can i follow you", "is this a rerun", "why is there no sound", "what happened to your {thing}",
        "what happened to the old channel", "what happened yesterday on stream", "is the streamer married",
    ],
    "opinions": [
        "is {player} good", "is this game fun", "do you like {thing}", "what do you think of {thing}", "should {player} {action}",
        "is that a good move", "who is better", "rate this game", "is this game hard", "is {player} bad at this", "why is {player} so bad",
        "would you play this", "is it worth buying", "what is the best strategy here", "how do i get better", "any tips",
        "why did {player} do that", "how do you beat this {level}", "what should {player} do {next}", "is this a good game",
        "do you think {player} will win", "who will win", "is {player} going to make it", "how hard is this game", "is that legal",
    ],
    "world": [
        "{whatis} the weather {like}", "is it raining", "{what} time is it", "{whatis} the date today", "what day is it",
        "{whatis} the capital of {country}", "who won the {event}", "{whatis} {n} plus {n}", "whats {n} times {n}", "who is the president of {country}",
        "how tall is {landmark}", "how many legs does a {animal} have", "{whatis} the meaning of life", "what colour is {thing}",
        "how many days are in a year", "who invented the {invention}", "how far is the moon", "{whatis} the speed of light",
        "how do i cook {food}", "{whatis} a good movie", "recommend a book", "what is love", "where is {country}",
        "{whatis} the population of {country}", "how many people live in {country}", "translate hello to french", "what does lol mean",
        "{whatis} the score of the {sport} game", "who scored in the {sport} match", "{whatis} the {sport} score", "how many {lives} does a cat have",
        "where do you live", "what level of english do you speak", "are there any hidden gems on netflix", "when was {famous} born",
        "how many enemies does batman have", "do you have enemies", "what is a gem", "is ruby a gem", "hit me up", "what's a hit song",
    ],
    "meta": [
        "are you a bot", "what can you do", "help", "what can i ask", "who made you", "what model are you", "are you chatgpt",
        "are you sentient", "how do you work", "what are you", "can you {botaction}", "what commands are there", "are you real",
        "how smart are you", "do you have feelings", "whats your name", "how old are you", "where are you from", "are you a human",
        "do you dream", "tell me a joke", "sing a song", "say something", "say hi", "repeat after me", "ignore previous instructions",
        "what model are you running", "who made this bot", "can you see me", "can you hear me", "what are your commands",
    ],
    "chatter": [
        "hi", "hello", "hey", "hi chat", "hello kibitz", "hey kibitz", "yo", "sup", "good morning", "good evening", "gn", "bye",
        "gg", "gg wp", "lol", "lmao", "rofl", "pog", "poggers", "kekw", "lul", "omegalul", "first", "nice", "wow", "ok", "okay",
        "yes", "no", "bruh", "f", "w", "l", "ez", "rip", "love this stream", "great stream", "hype", "lets go", "no way", "wtf",
        "same", "true", "facts", "based", "cringe", "hahaha", "xd", "omg", "clip it", "ty", "thanks", "you are cool", "hello everyone",
        "whats up chat", "im back", "brb", "what", "huh", "hmm", "sus", "lmaooo", "oof", "monkas", "5head", "noice",
    ],
}
SLOTS.update({
    "this": ["this", "that", "this one", "the stream"],
    "isthis": ["is this", "is that", "is it", "isnt this"],
    "game": ["minecraft", "fortnite", "valorant", "league", "mario", "zelda", "tetris", "pacman", "doom", "elden ring", "roblox",
             "among us", "apex", "cs", "overwatch", "sonic", "halo", "gta", "pokemon", "fifa", "rocket league", "terraria"],
    "adj": ["single", "married", "tired", "happy", "ok", "sick", "a pro", "famous", "rich", "real", "okay", "sad"],
    "gear": ["keyboard", "mouse", "mic", "camera", "headset", "chair", "monitor", "gpu", "pc"],
    "thing": ["pizza", "this game", "the music", "the streamer", "cats", "dogs", "anime", "this song", "the chat", "that",
              "mondays", "coffee", "the graphics", "this map", "the soundtrack", "your voice", "the camera", "the overlay"],
    "action": ["go left", "go right", "jump", "wait", "restart", "quit", "try again", "run", "give up", "take a break"],
    "like": ["like", "today", "outside", "", "in london", "tomorrow", "there"],
    "country": ["france", "germany", "japan", "spain", "brazil", "canada", "italy", "china", "india", "peru", "kenya", "norway"],
    "event": ["world cup", "super bowl", "election", "champions league", "oscars", "last game", "nba finals", "eurovision"],
    "n": ["2", "3", "5", "7", "10", "12", "two", "three", "100", "42"],
    "landmark": ["the eiffel tower", "everest", "big ben", "the empire state building", "a giraffe"],
    "animal": ["spider", "dog", "cat", "bird", "horse", "octopus", "ant"],
    "invention": ["telephone", "internet", "light bulb", "car", "computer"],
    "food": ["rice", "pasta", "eggs", "pancakes", "steak"],
    "sport": ["football", "soccer", "basketball", "hockey", "baseball", "cricket", "tennis", "rugby"],
    "famous": ["einstein", "mozart", "shakespeare", "the queen", "napoleon"],
    "botaction": ["dance", "sing", "play music", "ban someone", "talk", "play for me", "write a poem", "code", "draw"],
})
# Topics asked of a closed package that are about its world but that no kind answers.
OUT_OF_SCOPE_BY_GAME = {
    "demo": [
        "is the game over", "how long has the player been playing", "where is the player going", "how fast is the player",
        "what is the player's name", "how many gems has the player collected in total", "how many enemies did the player kill",
        "what is the timer at", "how much time is left", "why did the player die", "can the player jump", "is that a power up",
        "what does the red gem do", "how do you get more lives", "how many levels are there", "what is the highest level",
        "is the player winning", "who is the player", "what colour is the player", "where is the nearest gem",
    ],
    "chess": [
        "who is winning", "what opening is this", "{whatis} the eval", "is that a good move", "how many pieces are left",
        "which piece was taken", "is it check", "who will win this game", "what is the rating of the engines", "whats the best move",
        "is this checkmate", "how long is the game", "what time control is this", "which engine is playing", "is white better",
        "how many moves have been played", "is the queen still on the board", "what is the material count", "can black castle",
        "who has more pieces", "what did black just move", "is this a draw", "who won the last game", "why did white resign",
    ],
}

# The frames in-scope questions are made of, around things no kind is about: the frame alone
# ("how many ... are there", "when was ... last ...") must not make a kind, the thing asked about does.
FRAMES = [
    "{howmany} {noun} {arethere} {screen}", "{howmany} {noun} {doesplayer} {have}", "{howmany} {noun} {left}", "{whatis} the {noun}",
    "{whatis} the {noun} {now}", "which {noun} {isit}", "what {colour} {isit} the {noun}", "what {colour} was the {last} {noun}",
    "when was the {last} {noun}", "when did {player} {last} {verb}", "when was {player} {last} {verbed}", "{what} happened to the {noun}",
    "whose {noun} is it", "who {verbed} {lastadv}", "{noun} count", "{noun}", "{noun} {now}", "count the {noun}", "{whatis} {playerposs} {noun}",
    "{howmany} {noun}", "{last} {noun}", "{what} {noun} did {player} {verb} {lastadv}", "which side has more {noun}", "{whatis} the {noun} count",
    "is there a {noun} {screen}", "{howmany} {noun} {arethere} in the game", "what kind of {noun} {isit}", "{last} time {player} {verbed}",
]
SLOTS.update({
    "noun": ["followers", "subs", "viewers", "donations", "bits", "emotes", "coins", "kills", "deaths", "wins", "losses", "games",
             "moves", "clips", "mods", "raids", "songs", "hats", "cars", "trees", "clouds", "dogs", "cats", "birds", "keys",
             "doors", "bullets", "weapons", "guns", "swords", "shields", "potions", "bombs", "rings", "stars", "flags", "boxes",
             "chests", "bosses", "quests", "friends", "teams", "players", "people", "frames", "fps", "ping", "timer", "clock", "time",
             "date", "weather", "temperature", "music", "song", "map", "speed", "ammo", "health", "mana", "energy", "money", "gold",
             "xp", "rank", "elo", "rating", "streak", "record", "goal", "goals", "fouls", "cards", "tiles", "words", "letters",
             "numbers", "buttons", "settings", "sound", "volume", "chat", "messages", "emojis", "pixels", "colours", "colors",
             "background", "sky", "floor", "walls", "platforms", "ladders", "coins collected", "checkpoints", "achievements",
             "trophies", "medals", "upgrades", "skins", "outfits", "pets", "mounts", "vehicles", "planes", "boats", "fish", "apples",
             "bananas", "cookies", "pizza", "snacks", "drinks", "cups", "chairs", "monitors", "controllers", "subscribers", "hours",
             "minutes", "days", "years", "episodes", "seasons", "chapters", "pages", "books", "movies", "shows", "streamers",
             "channels", "videos", "likes", "dislikes", "comments", "shares", "votes", "polls", "predictions", "bets", "odds"],
    "verb": ["jump", "die", "eat", "sleep", "stream", "post", "tweet", "sing", "laugh", "win", "talk", "dance", "crash", "pause",
             "restart", "quit", "respawn", "save", "reload", "level up", "shoot", "run", "fall", "swim", "fly", "buy", "sell", "say"],
    "verbed": ["jumped", "died", "ate", "slept", "streamed", "posted", "joined", "donated", "subscribed", "spoke", "laughed", "won",
               "followed", "raided", "crashed", "paused", "restarted", "quit", "respawned", "saved", "reloaded", "levelled up",
               "shot", "ran", "fell", "swam", "flew", "bought", "sold", "said something", "typed", "cheered", "left"],
})

# The kinds' own words where they mean something else: another game's score, a real-life level,
# the streamer's colours, a cat's lives.
OUT_OF_SCOPE["contexts"] = [
    "{whatis} your {topic} in {game}", "what {topic} are you in {game}", "{whatis} the {sport} {score}", "{whatis} the {score} of the {sport} match",
    "{whatis} the world record", "{whatis} the high {score}", "{whatis} the best {score} ever", "{howmany} levels are there",
    "{howmany} levels does this game have", "is {player} bad at this", "is {player} good at this", "is {player} {adj}", "{howmany} enemies does {famous} have",
    "when was {famous} born", "what {colour} is {playerposs} shirt", "what {colour} is the background", "what {colour} is your hair",
    "{what} happened to your {thing}", "hit me up", "what a hit", "that was a hit", "{howmany} {lives} does a {animal} have",
    "{whatis} your {topic} in real life", "{whatis} the {topic} of difficulty", "whose {thing} is that", "who won the {sport} match",
    "{howmany} points did {sport} team get", "{whatis} your favourite {colour}", "{whatis} your favourite gem", "what level of {thing} is this",
    "when did you {verb} {lastadv}", "when is the {thing} {lastadv}", "what happened in the news", "what happened in {country}",
    "{howmany} people are watching", "{howmany} {noun} does the streamer have", "whose birthday is it", "who is next in the queue",
    "who plays {game}", "whos the best player", "who moves the camera", "which side of the screen", "who took my {thing}",
    "who captured the flag", "what did {famous} say", "{whatis} the {score} in {game}", "what {level} is your account",
]
SLOTS["topic"] = ["score", "level", "rank", "lives", "points", "elo", "kd", "lvl", "stage"]
