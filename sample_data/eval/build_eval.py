# ruff: noqa: E501  (one item per line: the data reads as a table)
"""Write the small evaluation sets of ``sample_data/eval/`` (hand-written items; arithmetic generated with a
fixed seed): ``python sample_data/eval/build_eval.py``. Deterministic; the CSVs are committed."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

EN_GEOGRAPHY = [
    ("What is the capital of France?", "Paris", ["Lyon", "Marseille", "Nice"]),
    ("Which ocean is the largest by area?", "The Pacific Ocean", ["The Atlantic Ocean", "The Indian Ocean", "The Arctic Ocean"]),
    ("Which river flows through Cairo?", "The Nile", ["The Congo", "The Niger", "The Zambezi"]),
    ("What is the capital of Japan?", "Tokyo", ["Osaka", "Kyoto", "Nagoya"]),
    ("On which continent is Brazil?", "South America", ["Africa", "Europe", "Asia"]),
    ("Which is the highest mountain above sea level?", "Mount Everest", ["K2", "Mont Blanc", "Kilimanjaro"]),
    ("What is the capital of Canada?", "Ottawa", ["Toronto", "Vancouver", "Montreal"]),
    ("Which desert is the largest hot desert?", "The Sahara", ["The Gobi", "The Atacama", "The Kalahari"]),
    ("Which country has the city of Barcelona?", "Spain", ["Italy", "Portugal", "France"]),
    ("What is the capital of Australia?", "Canberra", ["Sydney", "Melbourne", "Perth"]),
    ("Which sea lies between Europe and Africa?", "The Mediterranean Sea", ["The Baltic Sea", "The Red Sea", "The North Sea"]),
    ("Which river is the longest in Europe?", "The Volga", ["The Danube", "The Rhine", "The Seine"]),
    ("What is the capital of Kenya?", "Nairobi", ["Mombasa", "Kampala", "Addis Ababa"]),
    ("Which line divides the Earth into northern and southern halves?", "The equator", ["The prime meridian", "The Tropic of Cancer", "The Arctic Circle"]),
    ("Which country is an island nation in the Indian Ocean?", "Madagascar", ["Chile", "Bolivia", "Austria"]),
    ("What is the capital of Germany?", "Berlin", ["Munich", "Hamburg", "Frankfurt"]),
    ("Which mountain range separates Europe from Asia in Russia?", "The Ural Mountains", ["The Alps", "The Andes", "The Rockies"]),
    ("Which lake is the largest freshwater lake by surface area?", "Lake Superior", ["Lake Victoria", "Lake Geneva", "Lake Como"]),
    ("What is the capital of Egypt?", "Cairo", ["Alexandria", "Luxor", "Giza"]),
    ("Which country has the most people living in it in 2020?", "China", ["Brazil", "Nigeria", "Russia"]),
]

EN_SCIENCE = [
    ("What gas do plants take in for photosynthesis?", "Carbon dioxide", ["Oxygen", "Nitrogen", "Helium"]),
    ("What is the chemical symbol for water?", "H2O", ["CO2", "O2", "NaCl"]),
    ("Which planet is closest to the Sun?", "Mercury", ["Venus", "Mars", "Jupiter"]),
    ("What force keeps us on the ground?", "Gravity", ["Magnetism", "Friction", "Tension"]),
    ("At what temperature does pure water boil at sea level?", "100 degrees Celsius", ["50 degrees Celsius", "0 degrees Celsius", "200 degrees Celsius"]),
    ("Which organ pumps blood through the body?", "The heart", ["The lungs", "The liver", "The kidneys"]),
    ("What is the center of an atom called?", "The nucleus", ["The electron", "The shell", "The orbit"]),
    ("Which planet is known as the red planet?", "Mars", ["Saturn", "Neptune", "Venus"]),
    ("What do bees collect from flowers to make honey?", "Nectar", ["Pollen only", "Water", "Leaves"]),
    ("Which state of matter has a fixed shape?", "Solid", ["Liquid", "Gas", "Plasma"]),
    ("What is the main gas in the air we breathe?", "Nitrogen", ["Oxygen", "Carbon dioxide", "Argon"]),
    ("Which part of the plant absorbs water from the soil?", "The roots", ["The flowers", "The leaves", "The fruit"]),
    ("What kind of energy does a moving car have?", "Kinetic energy", ["Nuclear energy", "Chemical energy only", "No energy"]),
    ("How many legs does an insect have?", "Six", ["Eight", "Four", "Ten"]),
    ("Which vitamin does the skin make in sunlight?", "Vitamin D", ["Vitamin C", "Vitamin A", "Vitamin K"]),
    ("What is the hardest natural substance?", "Diamond", ["Gold", "Iron", "Quartz"]),
    ("Which blood cells carry oxygen?", "Red blood cells", ["White blood cells", "Platelets", "Plasma cells"]),
    ("What is the unit of electric current?", "The ampere", ["The volt", "The ohm", "The watt"]),
    ("Which planet has the most prominent rings?", "Saturn", ["Mercury", "Earth", "Mars"]),
    ("What do we call animals that eat only plants?", "Herbivores", ["Carnivores", "Omnivores", "Predators"]),
]

ZH_GEOGRAPHY = [
    ("中国的首都是哪座城市？", "北京", ["上海", "广州", "南京"]),
    ("中国最长的河流是哪一条？", "长江", ["黄河", "珠江", "淮河"]),
    ("被称为“世界屋脊”的是哪里？", "青藏高原", ["黄土高原", "云贵高原", "内蒙古高原"]),
    ("中国面积最大的省级行政区是哪个？", "新疆维吾尔自治区", ["西藏自治区", "内蒙古自治区", "青海省"]),
    ("中国最大的淡水湖是哪个？", "鄱阳湖", ["洞庭湖", "太湖", "青海湖"]),
    ("台湾岛东临哪个大洋？", "太平洋", ["大西洋", "印度洋", "北冰洋"]),
    ("黄河流经的高原中，水土流失最严重的是哪个？", "黄土高原", ["青藏高原", "云贵高原", "帕米尔高原"]),
    ("广州位于哪条河流的下游？", "珠江", ["长江", "黄河", "松花江"]),
    ("中国人口最多的城市之一、位于长江入海口的是哪座城市？", "上海", ["重庆", "西安", "兰州"]),
    ("中国最大的沙漠是哪个？", "塔克拉玛干沙漠", ["腾格里沙漠", "巴丹吉林沙漠", "毛乌素沙地"]),
    ("三峡大坝建在哪条河流上？", "长江", ["黄河", "珠江", "海河"]),
    ("中国的最高峰是哪座山？", "珠穆朗玛峰", ["泰山", "黄山", "华山"]),
    ("哈尔滨位于中国的哪个地区？", "东北地区", ["西南地区", "华南地区", "西北地区"]),
    ("海南岛位于中国的哪个方向？", "南部", ["北部", "西部", "东北部"]),
    ("被誉为“五岳之首”的是哪座山？", "泰山", ["衡山", "嵩山", "恒山"]),
    ("中国最大的咸水湖是哪个？", "青海湖", ["鄱阳湖", "洞庭湖", "太湖"]),
    ("昆明是哪个省的省会？", "云南省", ["四川省", "贵州省", "广西壮族自治区"]),
    ("西安位于哪条河流的流域？", "渭河", ["珠江", "闽江", "赣江"]),
    ("中国的陆地面积大约是多少？", "约960万平方千米", ["约96万平方千米", "约9600万平方千米", "约300万平方千米"]),
    ("杭州西湖位于哪个省？", "浙江省", ["江苏省", "安徽省", "福建省"]),
]

ZH_SCIENCE = [
    ("植物进行光合作用时吸收的气体是什么？", "二氧化碳", ["氧气", "氮气", "氢气"]),
    ("水在标准大气压下的沸点是多少摄氏度？", "100摄氏度", ["0摄氏度", "50摄氏度", "200摄氏度"]),
    ("离太阳最近的行星是哪一颗？", "水星", ["金星", "火星", "木星"]),
    ("人体中负责输送血液的器官是什么？", "心脏", ["肺", "胃", "肾脏"]),
    ("水的化学式是什么？", "H2O", ["CO2", "NaCl", "O2"]),
    ("空气中含量最多的气体是什么？", "氮气", ["氧气", "二氧化碳", "氩气"]),
    ("昆虫有几条腿？", "六条", ["四条", "八条", "十条"]),
    ("电流的单位是什么？", "安培", ["伏特", "欧姆", "瓦特"]),
    ("被称为“红色星球”的是哪颗行星？", "火星", ["土星", "海王星", "金星"]),
    ("自然界中最硬的物质是什么？", "金刚石", ["黄金", "铁", "石英"]),
    ("植物从土壤中吸收水分主要靠哪个部位？", "根", ["花", "叶", "果实"]),
    ("人体在阳光照射下皮肤可以合成哪种维生素？", "维生素D", ["维生素C", "维生素A", "维生素K"]),
    ("原子的中心部分叫做什么？", "原子核", ["电子", "电子层", "轨道"]),
    ("负责运输氧气的血细胞是哪一种？", "红细胞", ["白细胞", "血小板", "淋巴细胞"]),
    ("使物体落向地面的力是什么？", "重力", ["磁力", "摩擦力", "弹力"]),
    ("只吃植物的动物叫做什么？", "草食动物", ["肉食动物", "杂食动物", "捕食者"]),
    ("冰融化成水属于哪种变化？", "物理变化", ["化学变化", "核变化", "生物变化"]),
    ("声音在哪种介质中不能传播？", "真空", ["空气", "水", "钢铁"]),
    ("月球绕地球一周大约需要多长时间？", "约一个月", ["约一天", "约一年", "约一周"]),
    ("光合作用主要在植物的哪种细胞结构中进行？", "叶绿体", ["线粒体", "细胞核", "液泡"]),
]


def arithmetic(lang: str, seed: int) -> list[tuple[str, str, list[str]]]:
    rng = random.Random(seed)
    items = []
    for _ in range(20):
        a, b = rng.randint(2, 60), rng.randint(2, 40)
        op = rng.choice("+-*")
        value = a + b if op == "+" else a - b if op == "-" else a * b
        wrong = sorted({value + d for d in (-10, -2, -1, 1, 2, 10)} - {value})
        rng.shuffle(wrong)
        sym = {"+": "+", "-": "-", "*": "×"}[op]
        q = f"What is {a} {sym} {b}?" if lang == "en" else f"{a} {sym} {b} 等于多少？"
        items.append((q, str(value), [str(w) for w in wrong[:3]]))
    return items


def rows(items: list[tuple[str, str, list[str]]], offset: int) -> list[list[str]]:
    """question, A, B, C, D, answer: the correct choice at position (i + offset) % 4 (every letter used)."""
    out = []
    for i, (q, right, wrong) in enumerate(items):
        pos = (i * 3 + offset) % 4
        choices = list(wrong[:pos]) + [right] + list(wrong[pos:])
        out.append([q, *choices, "ABCD"[pos]])
    return out


def write_csv(path: Path, data: list[list[str]], header: list[str] | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        if header:
            w.writerow(header)
        w.writerows(data)


def main() -> None:
    en = {"elementary_mathematics": arithmetic("en", 1), "world_geography": EN_GEOGRAPHY,
          "basic_science": EN_SCIENCE}
    zh = {"middle_school_mathematics": arithmetic("zh", 2), "chinese_geography": ZH_GEOGRAPHY,
          "basic_science": ZH_SCIENCE}
    for k, (subject, items) in enumerate(en.items()):  # MMLU: header-less, {subject}_test.csv
        write_csv(HERE / "mmlu_en" / f"{subject}_test.csv", rows(items, k), None)
    for k, (subject, items) in enumerate(zh.items()):  # C-Eval: id,question,A,B,C,D,answer; {subject}_val.csv
        data = [[str(i), *r] for i, r in enumerate(rows(items, k + 1))]
        write_csv(HERE / "ceval_zh" / f"{subject}_val.csv", data, ["id", "question", "A", "B", "C", "D", "answer"])
    texts = [
        {"id": "en-1", "text": "The river runs through the old town, past the market and the stone bridge. In "
                               "spring the water rises and the fields along its banks turn green again."},
        {"id": "en-2", "text": "A good recipe lists its ingredients in the order they are used, gives amounts "
                               "in grams, and says how long each step takes and how to tell when it is done."},
        {"id": "en-3", "text": "Libraries lend books for free. Members may borrow up to ten items at a time "
                               "and return them at any branch within three weeks."},
        {"id": "en-4", "text": "The train leaves at eight in the morning and arrives in the city before noon, "
                               "stopping at four stations on the way."},
        {"id": "zh-1", "text": "春天来了，河边的柳树发出了新芽，孩子们在草地上放风筝，老人们坐在长椅上晒太阳。"},
        {"id": "zh-2", "text": "图书馆每天早上九点开门，读者可以凭借书证借阅图书，每次最多借十本，借期为三周。"},
        {"id": "zh-3", "text": "这道菜的做法很简单：先把鸡蛋打散，再把西红柿切块，锅里放油，炒熟后加少许盐即可。"},
    ]
    (HERE / "text").mkdir(exist_ok=True)
    (HERE / "text" / "heldout.jsonl").write_text(
        "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")


if __name__ == "__main__":
    main()
