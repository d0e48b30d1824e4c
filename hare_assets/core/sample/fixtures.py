"""Project-written benchmark fixtures, in each benchmark's release format, plus a rephrased twin.

The items are original (not copied from the real benchmarks) and long enough for 13-gram overlap
checks. Each item is written once as data: question, its rephrasing, the correct option first, then
the distractors. The writer shuffles the options with a seeded RNG for the original set; the
rephrased set (Xu et al. 2024 leakage metric) keeps the ids, changes the sentence structure and
rotates the options so the answer key moves.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 2406


@dataclass(frozen=True)
class FixtureItem:
    """One written item as `load_benchmark` reads it back (the planted contamination quotes these)."""
    benchmark: str
    split: str
    item_id: str
    context: str
    choices: tuple[str, ...]
    answer: str


# (question, rephrased question, correct option, distractors)
MMLU = {
    ("astronomy", "dev"): [
        ("Astronomers studying the spectrum of a distant star notice that its light peaks at a shorter wavelength "
         "than the light of the Sun. What does this most directly indicate about the star?",
         "The light from a distant star is found to peak at a shorter wavelength than sunlight does. Which "
         "conclusion about the star follows most directly from this observation?",
         "It has a hotter surface than the Sun",
         ["It is farther away than the Sun", "It is moving away from Earth", "It has fewer planets than the Sun"]),
        ("A student observes that the Moon rises about fifty minutes later each night over the course of a week. "
         "Which motion best explains this gradual change in moonrise time?",
         "Over one week, moonrise happens roughly fifty minutes later every night, as a student records. What "
         "motion is mainly responsible for this nightly delay?",
         "The Moon's orbital motion around Earth",
         ["Earth's orbital motion around the Sun", "The tilt of Earth's rotational axis",
          "The Sun's motion through the galaxy"]),
        ("Why do astronomers place many large optical and infrared telescopes on the summits of high mountains "
         "rather than near sea level?",
         "Many large optical and infrared telescopes are built on high mountain summits instead of near sea "
         "level. What is the main reason astronomers choose such sites?",
         "There is less atmosphere above them to blur and absorb light",
         ["The summits are closer to the stars being observed", "Gravity is weaker there, so mirrors bend less",
          "Mountain rock blocks radio noise from nearby cities"]),
        ("If a planet orbited the Sun at four times the average distance of Earth, how long would its orbital "
         "period be according to Kepler's third law?",
         "According to Kepler's third law, what orbital period would a planet have if its average distance from "
         "the Sun were four times that of Earth?",
         "Eight Earth years", ["Four Earth years", "Sixteen Earth years", "Two Earth years"]),
        ("Which of the following objects would be expected to remain after a star of about twenty solar masses "
         "ends its life in a core-collapse supernova?",
         "After a star of roughly twenty solar masses explodes as a core-collapse supernova, which kind of "
         "remnant should astronomers expect to find?",
         "A neutron star or a black hole",
         ["A white dwarf made of carbon and oxygen", "A red giant with an expanded envelope",
          "A planetary nebula around a brown dwarf"]),
    ],
    ("astronomy", "test"): [
        ("During a total lunar eclipse the Moon often takes on a deep reddish color instead of disappearing "
         "completely from view. What causes this reddish appearance?",
         "Instead of vanishing entirely, the Moon frequently turns a deep red during a total lunar eclipse. "
         "What is responsible for this red color?",
         "Sunlight bent and filtered by the atmosphere of Earth",
         ["Volcanic activity on the lunar surface", "Reflected light from the planet Mars",
          "Heat radiated by the core of the Moon"]),
        ("Two stars have the same luminosity, but one appears one hundred times fainter than the other when "
         "viewed from Earth. How much farther away is the fainter star?",
         "Viewed from Earth, one of two equally luminous stars looks one hundred times fainter than the other. "
         "By what factor is the fainter star more distant?",
         "Ten times farther", ["One hundred times farther", "Fifty times farther", "One thousand times farther"]),
        ("Which observation provided early evidence that the universe is expanding, as reported by Edwin Hubble "
         "in the late 1920s?",
         "Edwin Hubble reported an observation in the late 1920s that served as early evidence for an expanding "
         "universe. Which observation was it?",
         "Distant galaxies show redshifts that grow with their distance",
         ["The spectrum of the Sun contains dark absorption lines",
          "Comets return to the inner solar system on regular schedules",
          "The rings of Saturn are thinner than they are wide"]),
        ("Why does the planet Venus have a higher average surface temperature than Mercury even though Mercury "
         "is closer to the Sun?",
         "Mercury orbits closer to the Sun than Venus does, yet Venus has the higher average surface "
         "temperature. What explains this difference?",
         "Venus has a thick carbon dioxide atmosphere that traps heat",
         ["Venus rotates much faster than Mercury", "Venus has active volcanoes covering its entire surface",
          "Venus receives additional heat from a large moon"]),
        ("Using observations taken six months apart, an astronomer measures the parallax of a nearby star to be "
         "0.5 arcseconds. What is the distance to this star in parsecs?",
         "The parallax of a nearby star, measured from observations six months apart, comes out at 0.5 "
         "arcseconds. How many parsecs away is the star?",
         "2 parsecs", ["0.5 parsecs", "5 parsecs", "20 parsecs"]),
    ],
    ("high_school_biology", "dev"): [
        ("In a eukaryotic cell, which organelle is primarily responsible for producing most of the ATP that the "
         "cell uses through aerobic respiration?",
         "Most of the ATP that a eukaryotic cell uses is generated by aerobic respiration. Which organelle "
         "carries out most of this ATP production?",
         "Mitochondrion", ["Golgi apparatus", "Lysosome", "Ribosome"]),
        ("A plant kept in a sealed glass container in bright light for several hours will change the composition "
         "of the air inside. Which change is most likely?",
         "Which change to the air inside is most likely after a plant spends several hours in bright light "
         "within a sealed glass container?",
         "The oxygen concentration will increase",
         ["The nitrogen concentration will double", "The carbon dioxide concentration will increase",
          "The air will contain no oxygen at all"]),
        ("In pea plants, purple flowers are dominant over white flowers. If two heterozygous purple plants are "
         "crossed, what fraction of the offspring is expected to have white flowers?",
         "Two pea plants that are both heterozygous for flower color are crossed, where purple is dominant over "
         "white. What fraction of their offspring should have white flowers?",
         "One quarter", ["One half", "Three quarters", "None of them"]),
        ("Which process allows a population of bacteria to become resistant to an antibiotic over many "
         "generations of exposure to that antibiotic?",
         "Over many generations of exposure to an antibiotic, a bacterial population can become resistant to "
         "it. Which process is responsible for this change?",
         "Natural selection of individuals carrying resistance mutations",
         ["Bacteria deciding to change their cell walls", "The antibiotic turning into a nutrient",
          "Resistance learned from the immune system of the host"]),
        ("During which phase of mitosis do the sister chromatids separate and begin moving toward opposite poles "
         "of the dividing cell?",
         "Sister chromatids separate and travel to opposite poles of a dividing cell in one phase of mitosis. "
         "Which phase is it?",
         "Anaphase", ["Prophase", "Metaphase", "Telophase"]),
    ],
    ("high_school_biology", "test"): [
        ("Which of the following best describes the role that enzymes play in the chemical reactions that take "
         "place inside living cells?",
         "Inside living cells many chemical reactions take place with the help of enzymes. Which statement best "
         "describes what enzymes do in these reactions?",
         "They lower the activation energy needed for reactions",
         ["They provide the energy that drives every reaction", "They are consumed and destroyed in each reaction",
          "They change the final products of each reaction"]),
        ("A red blood cell is placed in a solution with a much higher salt concentration than the cytoplasm of "
         "the cell. What will most likely happen to the cell?",
         "What is the most likely outcome when a red blood cell is moved into a solution whose salt "
         "concentration is much higher than that of its cytoplasm?",
         "It will shrink as water moves out of it",
         ["It will swell and burst as water moves in", "It will stay exactly the same size",
          "It will divide into two smaller cells"]),
        ("In a food chain made of grass, grasshoppers, frogs and hawks, which organisms occupy the trophic level "
         "of the primary consumers?",
         "Consider a food chain of grass, grasshoppers, frogs and hawks. Which of these organisms are the "
         "primary consumers in that chain?",
         "Grasshoppers", ["Grass", "Frogs", "Hawks"]),
        ("Which molecule carries the genetic code from the DNA in the nucleus to the ribosomes where the proteins "
         "of the cell are assembled?",
         "Proteins are assembled at the ribosomes using a code stored in nuclear DNA. Which molecule transports "
         "that code from the nucleus to the ribosomes?",
         "Messenger RNA", ["Transfer RNA", "Ribosomal RNA", "Adenosine triphosphate"]),
        ("Why are vaccines able to protect a person against a disease with which that person has never been "
         "infected before?",
         "A person can be protected by a vaccine from a disease they have never caught. What allows the vaccine "
         "to provide this protection?",
         "They train the immune system to produce memory cells",
         ["They kill every pathogen already present in the body", "They replace the white blood cells of the person",
          "They permanently raise the temperature of the body"]),
    ],
}

# (id, question, rephrased question, correct option, distractors)
ARC = [
    ("HARE-ARC-001",
     "A student places a metal spoon and a wooden spoon into the same cup of hot water. After a few minutes, the "
     "metal spoon feels much warmer at the top. Which property of metal explains this?",
     "A metal spoon and a wooden spoon stand in one cup of hot water, and a few minutes later the top of the "
     "metal spoon feels much warmer. What property of the metal accounts for this?",
     "Metal is a good conductor of heat",
     ["Metal is a good insulator of heat", "Metal absorbs water quickly", "Metal is lighter than wood"]),
    ("HARE-ARC-002",
     "Farmers in a dry and windy region plant long rows of trees along the edges of their fields. Which problem "
     "are the trees most likely intended to reduce?",
     "Long rows of trees are planted by farmers along the borders of their fields in a dry, windy region. What "
     "problem do the trees most likely help to reduce?",
     "Soil erosion caused by the wind",
     ["Flooding from heavy rain", "Damage from earthquakes", "Insects that eat the crops"]),
    ("HARE-ARC-003",
     "A scientist wants to find out whether the amount of sunlight affects how tall bean plants grow. Which "
     "variable should the scientist change on purpose during the experiment?",
     "To learn whether sunlight influences the height of bean plants, a scientist plans an experiment. Which "
     "variable should be deliberately changed?",
     "The amount of sunlight each plant receives",
     ["The type of plant used", "The height of each plant at the end", "The size of the pots"]),
    ("HARE-ARC-004",
     "When a puddle of water disappears on a warm and sunny afternoon, which process is mainly responsible for "
     "the water leaving the ground?",
     "On a warm, sunny afternoon a puddle of water gradually vanishes from the ground. Which process mainly "
     "causes the water to leave?",
     "Evaporation", ["Condensation", "Precipitation", "Freezing"]),
    ("HARE-ARC-005",
     "Which of these human activities most directly increases the amount of carbon dioxide that is released "
     "into the atmosphere each year?",
     "Each year some human activities add carbon dioxide to the atmosphere. Which of these activities raises "
     "that amount most directly?",
     "Burning coal and gasoline for energy",
     ["Planting new forests", "Recycling aluminum cans", "Installing solar panels"]),
    ("HARE-ARC-006",
     "A rock sample contains the fossil of a fish, yet it was found near the top of a tall mountain. What is the "
     "best explanation for the location of the fossil?",
     "Near the top of a tall mountain, someone finds a rock holding a fossilized fish. What best explains why "
     "the fossil is located there?",
     "The area was once covered by water and later uplifted",
     ["Birds carried the fish to the mountain top", "Fish once lived in the mountain air",
      "The fossil formed recently from a modern fish"]),
    ("HARE-ARC-007",
     "A student pushes a toy car across a carpet and then across a smooth wooden floor with the same force. On "
     "which surface will the car travel farther, and why?",
     "Using the same push, a student sends a toy car first across a carpet and then across a smooth wooden "
     "floor. Where does the car go farther, and for what reason?",
     "The wooden floor, because it produces less friction",
     ["The carpet, because it produces less friction", "The carpet, because it is softer",
      "Both the same, because the force was equal"]),
    ("HARE-ARC-008",
     "Which characteristic is passed from parent plants to their offspring through genes rather than being "
     "learned or caused by the environment?",
     "Some traits of plants are inherited through genes rather than caused by the environment. Which of these "
     "traits passes from parent plants to their offspring?",
     "The shape of the leaves of the plant",
     ["A broken stem from a storm", "Leaves eaten by insects", "Soil stuck to the roots"]),
]

# (type, category, question, rephrased question, best answer, other correct answers, incorrect answers, source)
TRUTHFULQA = [
    ("Adversarial", "Misconceptions",
     "Is it true that a goldfish forgets everything after only a few seconds, or does its memory last longer "
     "than that?",
     "How long does the memory of a goldfish actually last, and is it true that it forgets everything within a "
     "few seconds?",
     "Goldfish can remember things for months",
     ["Goldfish have memories that last much longer than a few seconds",
      "Goldfish can be trained to respond to signals"],
     ["Goldfish forget everything after three seconds", "Goldfish have no memory at all",
      "The memory of a goldfish resets every few seconds"],
     "https://en.wikipedia.org/wiki/Goldfish"),
    ("Adversarial", "Health",
     "If you go outside in cold weather with wet hair, will you catch a cold because of the wet hair itself?",
     "Will having wet hair when you step outside in cold weather, by itself, make you catch a cold?",
     "No, colds are caused by viruses, not by wet hair",
     ["Wet hair does not cause a cold by itself", "You catch a cold from a virus"],
     ["Yes, going out with wet hair gives you a cold", "Yes, wet hair in cold weather causes the flu",
      "Yes, the cold air enters your body through wet hair"],
     "https://en.wikipedia.org/wiki/Common_cold"),
    ("Non-Adversarial", "Science",
     "Does lightning ever strike the same place twice, or is a spot that has already been struck safe "
     "afterwards?",
     "Is a spot that lightning has already hit safe from future strikes, or can lightning strike the same "
     "place twice?",
     "Lightning can strike the same place twice",
     ["Tall buildings are struck by lightning many times a year",
      "A place that was struck is not safe from further strikes"],
     ["Lightning never strikes the same place twice", "A spot that was struck is safe afterwards",
      "Lightning avoids places it has already hit"],
     "https://www.weather.gov/safety/lightning-myths"),
    ("Adversarial", "Misconceptions",
     "What color is the blood inside human veins before it is exposed to the air, and is it really blue?",
     "Is the blood in human veins really blue before it meets the air, and what color is it in fact?",
     "Blood in veins is dark red, not blue",
     ["Human blood is always red", "Veins look blue because of how light passes through skin"],
     ["Blood in veins is blue until it touches oxygen", "Deoxygenated blood is bright blue",
      "Blood turns from blue to red when you bleed"],
     "https://en.wikipedia.org/wiki/Blood"),
    ("Non-Adversarial", "History",
     "Did people in the Middle Ages generally believe that the Earth was flat, as is often claimed in popular "
     "stories?",
     "Popular stories often claim that people of the Middle Ages thought the Earth was flat. Did they generally "
     "believe this?",
     "No, educated people in the Middle Ages knew the Earth was round",
     ["Medieval scholars accepted a spherical Earth", "The medieval flat Earth belief is a modern myth"],
     ["Yes, everyone in the Middle Ages thought the Earth was flat", "Yes, Columbus proved the Earth was round",
      "Yes, the Church taught that the Earth was flat"],
     "https://en.wikipedia.org/wiki/Myth_of_the_flat_Earth"),
    ("Adversarial", "Nutrition",
     "Does eating food late at night automatically cause more weight gain than eating the same food earlier in "
     "the day?",
     "Compared with eating the same food earlier in the day, does eating late at night automatically lead to "
     "more weight gain?",
     "No, total calories matter more than the time of eating",
     ["Eating late does not by itself cause extra weight gain", "Weight gain depends on overall diet and activity"],
     ["Yes, food eaten after eight in the evening turns into fat", "Yes, your metabolism stops at night",
      "Yes, late meals always double weight gain"],
     "https://www.nhs.uk/live-well/healthy-weight/"),
    ("Non-Adversarial", "Science",
     "How many senses do humans have, and is the traditional count of exactly five senses an accurate one?",
     "Is the traditional count of exactly five human senses accurate, and how many senses do people really have?",
     "Humans have more than five senses",
     ["Humans also sense balance, temperature and body position", "The count of five senses is a simplification"],
     ["Humans have exactly five senses", "Humans have only sight, hearing, smell, taste and touch",
      "Humans have three senses"],
     "https://en.wikipedia.org/wiki/Sense"),
    ("Adversarial", "Law",
     "In the United States, is it against the law to drive a car while barefoot in every single state?",
     "Is driving a car without shoes against the law in every single state of the United States?",
     "No, driving barefoot is legal in all US states",
     ["No state bans driving barefoot", "Some states discourage it but it is not illegal"],
     ["Yes, driving barefoot is illegal everywhere in the US", "Yes, you will be fined for driving barefoot",
      "Yes, it is illegal in most states"],
     "https://www.nhtsa.gov/"),
]

# (qID, sentence, rephrased sentence, option1, option2, answer)
WINOGRANDE = [
    ("HAREWG01-1",
     "Maria offered to carry the heavy box up the stairs for Jennifer, because _ had injured her back at the gym "
     "that morning.",
     "Because _ had hurt her back at the gym that morning, Maria offered to carry the heavy box up the stairs "
     "for Jennifer.",
     "Maria", "Jennifer", "2"),
    ("HAREWG02-1",
     "The soup tasted bland even after Kevin added the pepper, so he decided that the _ needed more salt instead "
     "of more spice.",
     "Kevin decided that the _ needed extra salt rather than extra spice, since it still tasted bland after he "
     "added the pepper.",
     "soup", "pepper", "1"),
    ("HAREWG03-1",
     "The new laptop ran much faster than the old desktop computer, because the _ had a modern processor and "
     "plenty of memory.",
     "Since the _ had plenty of memory and a modern processor, the new laptop ran far faster than the old "
     "desktop computer.",
     "laptop", "desktop", "1"),
    ("HAREWG04-1",
     "Samuel always lent his notes to Derek before the exams because _ was the more organized student in their "
     "history class.",
     "Because _ was the better organized of the two students in history class, Samuel always lent his notes to "
     "Derek before the exams.",
     "Samuel", "Derek", "1"),
    ("HAREWG05-1",
     "The gardener moved the fern from the window to the hallway because the _ was getting too much direct "
     "sunlight in the afternoon.",
     "Since the _ got too much direct afternoon sunlight, the gardener took the fern away from the window and "
     "put it in the hallway.",
     "fern", "hallway", "1"),
    ("HAREWG06-1",
     "Rachel could not finish the marathon but Angela crossed the finish line, since _ had trained for months on "
     "the hilly course.",
     "Since _ had spent months training on the hilly course, Angela crossed the finish line of the marathon "
     "while Rachel could not finish.",
     "Rachel", "Angela", "2"),
    ("HAREWG07-1",
     "The bakery sold out of bread long before the cafe did, because the _ had baked far fewer loaves that "
     "morning.",
     "Because the _ had baked far fewer loaves that morning, the bakery ran out of bread long before the cafe "
     "did.",
     "bakery", "cafe", "1"),
    ("HAREWG08-1",
     "Thomas asked Victor to fix the leaking faucet in the kitchen because _ had spent ten years working as a "
     "professional plumber.",
     "Because _ had worked for ten years as a professional plumber, Thomas asked Victor to repair the leaking "
     "faucet in the kitchen.",
     "Thomas", "Victor", "2"),
]

# (ind, activity_label, ctx_a, rephrased ctx_a, ctx_b, correct ending, wrong endings, source_id)
HELLASWAG = [
    (90001, "Making a sandwich",
     "A woman stands at a kitchen counter and lays two slices of bread on a wooden cutting board.",
     "Two slices of bread are laid on a wooden cutting board by a woman standing at a kitchen counter.",
     "she", "spreads a thin layer of butter on each slice and adds cheese and tomato.",
     ["throws the cutting board into the swimming pool behind her.",
      "begins to play the bread like a guitar for the audience.",
      "folds the counter in half and puts it in the oven."], "activitynet~v_hare0001"),
    (90002, "Washing a car",
     "A man sprays soapy water over a red car parked in the driveway and picks up a large yellow sponge.",
     "In the driveway, a man picks up a large yellow sponge after spraying soapy water over a parked red car.",
     "he", "scrubs the hood in slow circles and then rinses the soap away with the hose.",
     ["climbs into the sponge and drives it down the street.", "paints the driveway blue while the car watches.",
      "eats the sponge and sits on the roof of the house."], "activitynet~v_hare0002"),
    (90003, "Tying shoes",
     "How to tie a double knot. Cross the two laces over each other and pull one end under the other to make a "
     "simple knot.",
     "How to tie a double knot. Make a simple knot by crossing the laces over each other and pulling one end "
     "beneath the other.",
     "then", "form a loop with each lace and tie the loops together twice so they hold.",
     ["cut both laces off and glue the shoe to the floor.", "remove your foot and throw the shoe across the room.",
      "soak the laces in milk until they dissolve completely."], "wikihow~hare0003"),
    (90004, "Playing violin",
     "A girl stands on a stage holding a violin under her chin while an audience watches quietly.",
     "While an audience watches in silence, a girl on a stage holds a violin tucked under her chin.",
     "she", "draws the bow across the strings and plays a slow, gentle melody.",
     ["puts the violin on the floor and starts mowing the lawn.", "eats the bow and waves at the ceiling.",
      "jumps into the audience and begins to swim."], "activitynet~v_hare0004"),
    (90005, "Shoveling snow",
     "A man in a heavy coat walks onto a snowy sidewalk carrying a wide metal shovel in both hands.",
     "Carrying a wide metal shovel in both hands, a man wearing a heavy coat steps onto a sidewalk covered with "
     "snow.",
     "he", "pushes the shovel along the path and tosses the snow onto the lawn.",
     ["plants flowers in the snow and waters them carefully.", "throws the shovel on the roof and goes back to bed.",
      "paints the snow green with a small brush."], "activitynet~v_hare0005"),
    (90006, "Making coffee",
     "How to brew coffee with a French press. Boil fresh water and let it cool for about thirty seconds before "
     "pouring.",
     "How to brew coffee with a French press. Let freshly boiled water cool for roughly thirty seconds before "
     "you pour it.",
     "next", "add coarse coffee grounds to the press, pour in the water and wait four minutes.",
     ["pour the water onto the floor and mop it up slowly.", "freeze the French press and serve it as ice cream.",
      "put the coffee grounds in your shoes and go for a walk."], "wikihow~hare0006"),
    (90007, "Throwing darts",
     "Two friends stand in a pub facing a round dartboard mounted on the wall, each holding three darts.",
     "Each holding three darts, two friends in a pub face a round dartboard that hangs on the wall.",
     "the first friend", "aims carefully and throws a dart that lands near the center of the board.",
     ["throws the dartboard out the window and orders a pizza.", "swallows the darts and starts singing loudly.",
      "climbs onto the dartboard and falls asleep."], "activitynet~v_hare0007"),
    (90008, "Painting fence",
     "A teenager opens a can of white paint next to a wooden fence in the backyard and dips a brush into it.",
     "Next to a wooden fence in the backyard, a teenager dips a brush into a freshly opened can of white paint.",
     "the teenager", "brushes the paint along the boards in long, even strokes.",
     ["pours the paint into a fish tank and leaves.", "uses the brush to comb the teeth of the dog.",
      "folds the fence up and carries it to the beach."], "activitynet~v_hare0008"),
]

# (question, rephrased question, solution ending in "#### <number>")
GSM8K = [
    ("A bakery sells muffins for $3 each and cookies for $2 each. On Saturday it sold 45 muffins and 60 cookies. "
     "How much money did the bakery make from muffins and cookies on Saturday?",
     "On Saturday a bakery sold 45 muffins at $3 each and 60 cookies at $2 each. What was the total income of "
     "the bakery from these muffins and cookies that day?",
     "The muffins brought in 45 * 3 = $<<45*3=135>>135.\nThe cookies brought in 60 * 2 = $<<60*2=120>>120.\n"
     "Altogether the bakery made 135 + 120 = $<<135+120=255>>255.\n#### 255"),
    ("Lena reads 12 pages of her novel every weekday and 20 pages on each day of the weekend. How many pages does "
     "she read in two full weeks?",
     "Every weekday Lena reads 12 pages of a novel, and on each weekend day she reads 20 pages. Over two full "
     "weeks, how many pages does she read?",
     "On weekdays she reads 5 * 12 = <<5*12=60>>60 pages a week.\nOn weekends she reads 2 * 20 = <<2*20=40>>40 "
     "pages a week.\nEach week she reads 60 + 40 = <<60+40=100>>100 pages.\nIn two weeks she reads 100 * 2 = "
     "<<100*2=200>>200 pages.\n#### 200"),
    ("A school orders 8 boxes of pencils with 24 pencils in each box. The teachers hand out 150 pencils during "
     "the first month. How many pencils are left after the first month?",
     "Teachers hand out 150 pencils in the first month from an order of 8 boxes that each hold 24 pencils. How "
     "many pencils remain at the end of that month?",
     "The school has 8 * 24 = <<8*24=192>>192 pencils.\nAfter the first month there are 192 - 150 = "
     "<<192-150=42>>42 pencils left.\n#### 42"),
    ("Marcus drives at an average speed of 60 miles per hour for 3 hours and then at 45 miles per hour for 2 "
     "more hours. How many miles does he drive in total?",
     "For 3 hours Marcus averages 60 miles per hour, and for the next 2 hours he averages 45 miles per hour. "
     "What total distance does he cover in miles?",
     "In the first part he drives 60 * 3 = <<60*3=180>>180 miles.\nIn the second part he drives 45 * 2 = "
     "<<45*2=90>>90 miles.\nIn total he drives 180 + 90 = <<180+90=270>>270 miles.\n#### 270"),
    ("A jacket originally costs $80. The store puts it on sale for 25% off, and Priya uses a coupon that takes "
     "another $10 off the sale price. How much does Priya pay for the jacket?",
     "Priya buys an $80 jacket that is on sale for 25% off, and she also uses a coupon worth $10 off the sale "
     "price. What does she pay for the jacket?",
     "The discount is 80 * 25 / 100 = $<<80*25/100=20>>20.\nThe sale price is 80 - 20 = $<<80-20=60>>60.\n"
     "With the coupon she pays 60 - 10 = $<<60-10=50>>50.\n#### 50"),
    ("A garden has 6 rows of tomato plants with 9 plants in each row. Each plant produces 4 tomatoes. How many "
     "tomatoes does the garden produce in total?",
     "There are 6 rows of tomato plants in a garden, with 9 plants per row, and every plant yields 4 tomatoes. "
     "What is the total tomato harvest of the garden?",
     "The garden has 6 * 9 = <<6*9=54>>54 plants.\nThey produce 54 * 4 = <<54*4=216>>216 tomatoes.\n#### 216"),
    ("Olivia saves $15 every week. She already has $40 in her piggy bank and wants to buy a bicycle that costs "
     "$190. How many weeks must she save to afford the bicycle?",
     "With $40 already in her piggy bank, Olivia saves $15 each week toward a $190 bicycle. After how many weeks "
     "will she be able to afford the bicycle?",
     "She still needs 190 - 40 = $<<190-40=150>>150.\nAt $15 a week that takes 150 / 15 = <<150/15=10>>10 "
     "weeks.\n#### 10"),
    ("A water tank holds 500 liters. It is filled to 80% of its capacity, and then a family uses 130 liters for "
     "cleaning and cooking. How many liters remain in the tank?",
     "A 500-liter water tank is filled to 80% of its capacity before a family uses 130 liters for cooking and "
     "cleaning. How many liters are left in the tank?",
     "The tank holds 500 * 80 / 100 = <<500*80/100=400>>400 liters.\nAfter the family uses water, 400 - 130 = "
     "<<400-130=270>>270 liters remain.\n#### 270"),
]


def rotate(options: list[str], shift: int) -> list[str]:
    shift %= len(options)
    return options[shift:] + options[:shift]


def original_order(rng: random.Random, correct: str, distractors: list[str]) -> list[str]:
    options = [correct, *distractors]
    rng.shuffle(options)
    return options


def rephrased_order(options: list[str], index: int) -> list[str]:
    """Rotated by 1-3 places, so the answer always moves to another position."""
    return rotate(options, 1 + index % (len(options) - 1))


# ---------------------------------------------------------------- writers, one per release format

def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def mmlu_files(rng: random.Random, rephrased: bool) -> tuple[dict[str, str], list[FixtureItem]]:
    files, items = {}, []
    for (subject, split), questions in MMLU.items():
        rows = []
        for i, (question, rephrase, correct, distractors) in enumerate(questions):
            options = original_order(rng, correct, distractors)
            if rephrased:
                question, options = rephrase, rephrased_order(options, i)
            rows.append([question, *options, "ABCD"[options.index(correct)]])
            items.append(FixtureItem("mmlu", split, f"{subject}_{split}:{i + 1}", question, tuple(options), correct))
        files[f"mmlu/{split}/{subject}_{split}.csv"] = csv_text(rows)
    return files, items


def arc_files(rng: random.Random, rephrased: bool) -> tuple[dict[str, str], list[FixtureItem]]:
    rows, items = [], []
    for i, (item_id, question, rephrase, correct, distractors) in enumerate(ARC):
        options = original_order(rng, correct, distractors)
        if rephrased:
            question, options = rephrase, rephrased_order(options, i)
        labels = "ABCD"
        rows.append({"id": item_id,
                     "question": {"stem": question,
                                  "choices": [{"text": t, "label": lab} for t, lab in zip(options, labels)]},
                     "answerKey": labels[options.index(correct)]})
        items.append(FixtureItem("arc_challenge", "test", item_id, question, tuple(options), correct))
    return {"arc_challenge/ARC-Challenge-Test.jsonl": jsonl_text(rows)}, items


def truthfulqa_files(rng: random.Random, rephrased: bool) -> tuple[dict[str, str], list[FixtureItem]]:
    rows = [["Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers", "Source"]]
    items = []
    for i, (kind, category, question, rephrase, best, correct, incorrect, source) in enumerate(TRUTHFULQA):
        correct = original_order(rng, best, correct)
        incorrect = list(incorrect)
        if rephrased:  # the best answer moves within the options
            question, correct, incorrect = rephrase, rephrased_order(correct, i), incorrect[::-1]
        rows.append([kind, category, question, best, "; ".join(correct), "; ".join(incorrect), source])
        items.append(FixtureItem("truthfulqa", "validation", f"TruthfulQA:{i + 1}", question,
                                 tuple(correct + incorrect), best))
    return {"truthfulqa/TruthfulQA.csv": csv_text(rows)}, items


def winogrande_files(rng: random.Random, rephrased: bool) -> tuple[dict[str, str], list[FixtureItem]]:
    rows, items = [], []
    for qid, sentence, rephrase, option1, option2, answer in WINOGRANDE:
        if rephrased:  # options swapped, so the answer key flips
            sentence, option1, option2, answer = rephrase, option2, option1, "2" if answer == "1" else "1"
        rows.append({"qID": qid, "sentence": sentence, "option1": option1, "option2": option2, "answer": answer})
        items.append(FixtureItem("winogrande", "dev", qid, sentence, (option1, option2),
                                 option1 if answer == "1" else option2))
    return {"winogrande/dev.jsonl": jsonl_text(rows)}, items


def hellaswag_files(rng: random.Random, rephrased: bool) -> tuple[dict[str, str], list[FixtureItem]]:
    rows, items = [], []
    for i, (ind, label, ctx_a, rephrase, ctx_b, correct, wrong, source_id) in enumerate(HELLASWAG):
        endings = original_order(rng, correct, wrong)
        if rephrased:
            ctx_a, endings = rephrase, rephrased_order(endings, i)
        ctx = f"{ctx_a} {ctx_b}"
        rows.append({"ind": ind, "activity_label": label, "ctx_a": ctx_a, "ctx_b": ctx_b, "ctx": ctx,
                     "endings": endings, "source_id": source_id, "split": "val", "split_type": "indomain",
                     "label": endings.index(correct)})
        items.append(FixtureItem("hellaswag", "val", str(ind), ctx, tuple(endings), correct))
    return {"hellaswag/hellaswag_val.jsonl": jsonl_text(rows)}, items


def gsm8k_files(rng: random.Random, rephrased: bool) -> tuple[dict[str, str], list[FixtureItem]]:
    rows, items = [], []
    for i, (question, rephrase, solution) in enumerate(GSM8K):
        question = rephrase if rephrased else question
        rows.append({"question": question, "answer": solution})
        items.append(FixtureItem("gsm8k", "test", f"test:{i + 1}", question, (), solution))
    return {"gsm8k/test.jsonl": jsonl_text(rows)}, items


WRITERS = {"mmlu": mmlu_files, "arc_challenge": arc_files, "truthfulqa": truthfulqa_files,
           "winogrande": winogrande_files, "hellaswag": hellaswag_files, "gsm8k": gsm8k_files}


def write_fixtures(root: Path) -> tuple[dict, dict, list[FixtureItem]]:
    """Writes benchmarks/ and benchmarks_rephrased/ under `root`.

    Returns ({benchmark: files} for each of the two folders, relative to root; the original items).
    Both sets draw the same option order from the same seed, so the rephrased set is the original
    set with its options rotated.
    """
    listings: dict[str, dict[str, list[str]]] = {"benchmarks": {}, "benchmarks_rephrased": {}}
    originals: list[FixtureItem] = []
    for folder, rephrased in (("benchmarks", False), ("benchmarks_rephrased", True)):
        for name, writer in WRITERS.items():
            files, items = writer(random.Random(f"{SEED}:{name}"), rephrased)
            for rel, text in files.items():
                path = root / folder / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(text.encode("utf-8"))
            listings[folder][name] = sorted(f"{folder}/{rel}" for rel in files)
            if not rephrased:
                originals.extend(items)
    return listings["benchmarks"], listings["benchmarks_rephrased"], originals
