"""Write the extraction benchmark's pages: 10 news pages in 10 different site layouts, each with its gold body.

The story text of the 7 Arabic pages is real news (ANT corpus, one article with 3+ paragraphs from each of
7 categories); the 3 English stories and all the boilerplate (menus, share bars, cookie banners, related and
most-read lists, comment threads, newsletter boxes, footers, ads, "read also" links) were written for this
benchmark, shaped like the markup of common news CMSs. Re-running this script rewrites the same files:

    .venv/bin/python bench/data/pages/make_pages.py
"""
from __future__ import annotations

import gzip
import html
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANT = Path("/work/shared/data/ant-news/articles.jsonl.gz")

EN = [
    dict(title="City council approves new tram line after two-year debate", date="2024-05-06",
         author="Helen Okafor", site="Riverside Chronicle",
         body=["The city council voted 31 to 9 on Monday night to approve a new tram line linking the northern "
               "suburbs with the central station, ending two years of public consultation.",
               "The line will run for eleven kilometres with fourteen stops and is expected to carry forty "
               "thousand passengers a day once it opens in 2028.",
               "Opponents argued that the budget of 620 million would be better spent on buses, while "
               "business groups said the tram would bring new investment to neglected districts.",
               "Construction is due to begin next spring, starting with the depot near the old gasworks."]),
    dict(title="Why the school day should start later", date="2024-02-19", author="Prof. Nadia Salim",
         site="The Evening Standard Review",
         body=["Every weekday morning millions of teenagers drag themselves out of bed long before their "
               "bodies are ready to be awake.",
               "Sleep researchers have shown for decades that adolescents' internal clocks shift later during "
               "puberty, so an eight o'clock start asks them to learn at the low point of their day.",
               "Districts that moved the first bell to half past eight report better attendance, fewer car "
               "accidents among young drivers and modest gains in exam results.",
               "The cost is mostly logistical: bus routes, sports practice and parents' commutes all have to "
               "be reorganised, which is hard but hardly impossible."]),
    dict(title="Volunteers count record number of migrating storks", date="2024-09-12", author="Tom Becker",
         site="Valley Nature News",
         body=["Birdwatchers at the mountain pass counted more than twenty-two thousand white storks in a "
               "single day this week, the highest figure since the survey began in 1994.",
               "Warm thermals along the ridge allowed the birds to glide south for hours without flapping, "
               "said the survey coordinator.",
               "The count is part of a continent-wide effort to track how climate change is shifting the "
               "timing of autumn migration."]),
]


def ant_stories(n: int = 7) -> list[dict]:
    picked, categories = [], set()
    with gzip.open(ANT, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            paras = [p.strip() for p in r["text"].split("\n") if len(p.strip()) > 60]
            if len(paras) < 3 or r.get("category") in categories or not r.get("date"):
                continue
            categories.add(r.get("category"))
            picked.append(dict(title=r["title"].strip(), date=r["date"], author=(r.get("author") or "").strip(),
                               site=r["source"], body=paras[:5]))
            if len(picked) == n:
                break
    return picked


def e(s: str) -> str:
    return html.escape(s, quote=True)


def paras(body: list[str], sep: str = "p") -> str:
    if sep == "br":
        return "<br><br>\n".join(e(p) for p in body)
    return "\n".join(f"<p>{e(p)}</p>" for p in body)


def head(s: dict, lang: str, ld: bool = True, extra: str = "") -> str:
    ld_block = ("<script type=\"application/ld+json\">" + json.dumps(
        {"@context": "https://schema.org", "@type": "NewsArticle", "headline": s["title"],
         "datePublished": s["date"] + "T08:00:00Z", "author": {"@type": "Person", "name": s["author"] or s["site"]}},
        ensure_ascii=False) + "</script>") if ld else ""
    rtl = ' dir="rtl"' if lang == "ar" else ""
    return (f'<!DOCTYPE html><html lang="{lang}"{rtl}><head><meta charset="utf-8">'
            f"<title>{e(s['title'])} - {e(s['site'])}</title><meta property='og:site_name' content='{e(s['site'])}'>"
            f"{ld_block}{extra}<script>var ads = [];</script></head>")


AR_NAV = "<nav><ul><li><a href='/'>الرئيسية</a></li><li><a href='/p'>أخبار محلية</a></li><li><a href='/w'>العالم</a></li><li><a href='/s'>رياضة</a></li><li><a href='/t'>تكنولوجيا</a></li></ul></nav>"
AR_FOOT = "<footer><p>جميع الحقوق محفوظة للموقع ٢٠٢٤</p><a href='/a'>من نحن</a> <a href='/c'>اتصل بنا</a> <a href='/pr'>سياسة الخصوصية</a></footer>"
AR_RELATED = "<aside class='related'><h3>مواضيع ذات صلة</h3><ul><li><a href='/1'>ارتفاع أسعار الخضر في الأسواق مع بداية الشهر</a></li><li><a href='/2'>وزارة التربية تعلن موعد الامتحانات الوطنية</a></li><li><a href='/3'>انطلاق الدورة الجديدة لمهرجان المسرح العربي</a></li></ul></aside>"
AR_SHARE = "<div class='share'><a href='#'>شارك على فيسبوك</a> <a href='#'>تويتر</a> <a href='#'>واتساب</a> <a href='#'>نسخ الرابط</a></div>"
AR_COMMENTS = "<section id='comments' class='comments'><h3>التعليقات</h3><div class='comment'><b>زائر</b><p>شكرا على هذا التقرير المفيد والمفصل.</p></div><div class='comment'><b>أحمد من تونس</b><p>نتمنى متابعة الموضوع في الأيام القادمة.</p></div><form><textarea>اكتب تعليقك هنا</textarea></form></section>"
AR_COOKIE = "<div class='cookie-notice' id='cookie-law-info-bar'>يستخدم هذا الموقع ملفات تعريف الارتباط لضمان حصولك على أفضل تجربة. <a>أوافق</a></div>"
AR_MOSTREAD = "<div class='most-read widget'><h3>الأكثر قراءة</h3><ol><li><a href='/m1'>نتائج مباريات الجولة الأخيرة من الدوري</a></li><li><a href='/m2'>توقعات الطقس لنهاية الأسبوع</a></li></ol></div>"
AR_NEWSLETTER = "<div class='newsletter'>اشترك في نشرتنا البريدية لتصلك آخر الأخبار</div>"


def layout_wordpress(s):  # semantic article + sharedaddy + jetpack related + comments
    return (head(s, "ar") + f"<body class='single-post'>{AR_COOKIE}<header id='masthead'>{AR_NAV}</header>"
            f"<div id='primary'><main id='main'><article class='post type-post'><header class='entry-header'>"
            f"<h1 class='entry-title'>{e(s['title'])}</h1><span class='posted-on'><time datetime='{s['date']}'>{s['date']}</time></span>"
            f"<span class='byline'>{e(s['author'])}</span></header><div class='entry-content'>{paras(s['body'])}"
            f"<div class='sharedaddy sd-sharing-enabled'>{AR_SHARE}</div><div id='jp-relatedposts'>{AR_RELATED}</div></div></article>"
            f"{AR_COMMENTS}</main></div><aside id='secondary' class='widget-area'>{AR_MOSTREAD}</aside>{AR_FOOT}</body></html>")


def layout_divsoup(s):  # no semantic tags at all
    return (head(s, "ar", ld=False) + f"<body><div id='wrapper'><div class='topmenu'><a href='/'>الرئيسية</a> | <a href='/n'>أخبار</a> | <a href='/v'>فيديو</a></div>"
            f"<div class='row'><div class='col-8'><div class='news-title'><h2>{e(s['title'])}</h2></div>"
            f"<div class='news-date'>{s['date']}</div><div class='news-text'>{paras(s['body'])}</div>{AR_SHARE}</div>"
            f"<div class='col-4'>{AR_MOSTREAD}{AR_NEWSLETTER}</div></div><div class='bottom'>جميع الحقوق محفوظة للموقع ٢٠٢٤ - تصميم وبرمجة شركة الويب</div></div></body></html>")


def layout_table(s):  # an old table layout, paragraphs as <br><br>
    return (head(s, "ar", ld=False) + f"<body><table width='100%'><tr><td class='menu' width='20%'>"
            f"<a href='/'>الرئيسية</a><br><a href='/l'>أخبار محلية</a><br><a href='/a'>الأرشيف</a></td>"
            f"<td class='content'><h1>{e(s['title'])}</h1><font size='2'>{s['date']}</font><br><br>{paras(s['body'], 'br')}</td>"
            f"<td width='20%'>{AR_MOSTREAD}</td></tr><tr><td colspan='3'>جميع الحقوق محفوظة للموقع ٢٠٢٤</td></tr></table></body></html>")


def layout_readalso(s):  # "read also" links and ads inside the story
    body = s["body"]
    inner = [f"<p>{e(body[0])}</p>", "<div class='read-also'>اقرأ أيضا: <a href='/x'>الحكومة تناقش مشروع قانون المالية الجديد</a></div>",
             *(f"<p>{e(p)}</p>" for p in body[1:2]), "<div class='ad-slot'>إعلان</div><div class='ad-slot'>مساحة إعلانية</div>",
             *(f"<p>{e(p)}</p>" for p in body[2:])]
    return (head(s, "ar") + f"<body>{AR_NAV}<main><article><h1>{e(s['title'])}</h1><div class='article-body'>{''.join(inner)}</div>"
            f"<div class='tags'>كلمات مفتاحية: <a>اقتصاد</a> <a>حكومة</a></div></article>{AR_RELATED}</main>{AR_FOOT}</body></html>")


def layout_figure(s):  # breadcrumbs, a figure with caption, author box
    return (head(s, "ar") + f"<body>{AR_NAV}<div class='breadcrumb'><a>الرئيسية</a> / <a>أخبار</a></div><article>"
            f"<h1>{e(s['title'])}</h1><figure><img src='a.jpg'><figcaption>صورة من الأرشيف</figcaption></figure>"
            f"{paras(s['body'])}<div class='author-box'><b>{e(s['author'] or 'محرر الموقع')}</b><p>صحفي متخصص في الشؤون المحلية، يكتب منذ عشر سنوات.</p></div>"
            f"</article>{AR_COMMENTS}{AR_FOOT}</body></html>")


def layout_ticker(s):  # breaking-news ticker, cookie banner, newsletter modal, most-read tabs
    return (head(s, "ar") + f"<body>{AR_COOKIE}<div class='breaking-ticker'><span>عاجل</span><ul><li>انقطاع الكهرباء عن عدة أحياء في العاصمة</li><li>تأجيل مباراة القمة إلى الأسبوع المقبل</li></ul></div>"
            f"{AR_NAV}<div class='modal newsletter-popup'>{AR_NEWSLETTER}<button>لا شكرا</button></div><main><article class='story'>"
            f"<h1>{e(s['title'])}</h1>{AR_SHARE}<section class='story-body'>{paras(s['body'])}</section></article>"
            f"<div class='tabs'>{AR_MOSTREAD}</div></main>{AR_FOOT}</body></html>")


def layout_amp(s):  # AMP-like markup
    return (head(s, "ar") + f"<body><header class='amp-header'><button class='hamburger'>القائمة</button>{AR_NAV}</header>"
            f"<main><article><h1 class='amp-title'>{e(s['title'])}</h1><amp-social-share type='facebook'>مشاركة</amp-social-share>"
            f"<div class='amp-content'>{paras(s['body'])}</div></article>{AR_RELATED}</main>"
            f"<footer class='amp-footer'><a href='/'>العودة إلى النسخة الكاملة</a> جميع الحقوق محفوظة للموقع ٢٠٢٤</footer></body></html>")


EN_NAV = "<nav class='site-nav'><ul><li><a href='/'>Home</a></li><li><a href='/news'>News</a></li><li><a href='/sport'>Sport</a></li><li><a href='/opinion'>Opinion</a></li><li><a href='/subscribe'>Subscribe</a></li></ul></nav>"
EN_FOOT = "<footer><p>Copyright 2024 Media Holdings Ltd. All rights reserved.</p><a href='/t'>Terms</a> <a href='/p'>Privacy</a> <a href='/ad'>Advertise</a></footer>"
EN_RELATED = "<section class='related'><h2>You may also like</h2><ul><li><a href='/r1'>Ten recipes for a rainy weekend</a></li><li><a href='/r2'>Stock markets close higher on tech rally</a></li></ul></section>"


def layout_en_news(s):
    return (head(s, "en") + f"<body><div class='onetrust-banner'>We and our partners use cookies to improve your experience. <button>Accept cookies</button></div>"
            f"<header>{EN_NAV}</header><main><article><h1>{e(s['title'])}</h1><p class='byline'>By {e(s['author'])}</p>"
            f"<ul class='share'><li>Share on Facebook</li><li>Share on WhatsApp</li><li>Email this story</li></ul>"
            f"{paras(s['body'])}</article>{EN_RELATED}</main>{EN_FOOT}</body></html>")


def layout_en_opinion(s):  # author bio, pull quote, disqus thread
    body = s["body"]
    return (head(s, "en") + f"<body><header>{EN_NAV}</header><div class='trending'><h3>Trending now</h3><ol><li>Celebrity chef opens new restaurant downtown</li><li>Traffic chaos after bridge closure</li></ol></div>"
            f"<article class='opinion'><h1>{e(s['title'])}</h1><div class='author'>{e(s['author'])} is a columnist. Follow her on social media.</div>"
            f"<p>{e(body[0])}</p><p>{e(body[1])}</p><div class='paywall-note'>You have read 3 of 5 free articles this month. Subscribe for unlimited access.</div>"
            f"{paras(body[2:])}</article><div id='disqus_thread'><div class='post'><b>reader42</b> I completely disagree with this column.</div>"
            f"<div class='post'><b>mum_of_three</b> Finally someone says it!</div></div>{EN_FOOT}</body></html>")


def layout_en_blog(s):  # headings and a list inside the story
    return (head(s, "en") + f"<body>{EN_NAV}<main class='content'><section class='post'><h1>{e(s['title'])}</h1>"
            f"<time datetime='{s['date']}'>{s['date']}</time>{paras(s['body'])}"
            f"<div class='newsletter'>Sign up for our weekly nature newsletter</div></section>"
            f"<aside class='sidebar'><h3>Popular posts</h3><ul><li>How to build a bird box</li><li>Best hiking boots reviewed</li></ul></aside></main>{EN_FOOT}</body></html>")


AR_LAYOUTS = [layout_wordpress, layout_divsoup, layout_table, layout_readalso, layout_figure, layout_ticker, layout_amp]
EN_LAYOUTS = [layout_en_news, layout_en_opinion, layout_en_blog]


def main() -> None:
    gold = {}
    for i, (s, layout) in enumerate(zip(ant_stories(), AR_LAYOUTS)):
        name = f"{i + 1:02d}-ar-{layout.__name__.removeprefix('layout_')}.html"
        (HERE / name).write_text(layout(s), encoding="utf-8")
        gold[name] = {"title": s["title"], "date": s["date"], "body": s["body"]}
    for j, (s, layout) in enumerate(zip(EN, EN_LAYOUTS)):
        name = f"{len(AR_LAYOUTS) + j + 1:02d}-en-{layout.__name__.removeprefix('layout_en_')}.html"
        (HERE / name).write_text(layout(s), encoding="utf-8")
        gold[name] = {"title": s["title"], "date": s["date"], "body": s["body"]}
    # the two pages of tests/data/pages: gold = the paragraphs (and subheadings) of their story container
    from bs4 import BeautifulSoup

    tests = HERE.parents[2] / "tests" / "data" / "pages"
    for name, container, date in (("ar-economy.html", "div.post-body", "2024-03-14"),
                                  ("en-climate.html", "div.article-body", "2024-04-02")):
        soup = BeautifulSoup((tests / name).read_text(encoding="utf-8"), "html.parser")
        body = [" ".join(t.get_text(" ").split()) for t in soup.select_one(container).find_all(["p", "h2"])]
        gold[f"../../../tests/data/pages/{name}"] = {"title": soup.find("h1").get_text().strip(), "date": date,
                                                     "body": body}
    (HERE / "gold.json").write_text(json.dumps(gold, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(gold)} pages and gold.json to {HERE}")


if __name__ == "__main__":
    main()
