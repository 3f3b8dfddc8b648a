"""The simulator's fixed parameters: segments, attribute mixes, rates and session content.

Rows of every ``*_BY_SEGMENT`` table follow ``SEGMENTS``; rates are per day of activity
time (see ``clock``). Changing a number here changes the data, so tests pin behaviour,
not values.
"""

import numpy as np

SEGMENTS = ("power_user", "casual_browser", "bargain_hunter", "dormant_valuable")
SEGMENT_SHARE = np.array([0.12, 0.45, 0.25, 0.18])

CHANNELS = ("organic", "paid_search", "paid_social", "referral", "email")
CHANNEL_BY_SEGMENT = np.array(
    [
        [0.40, 0.15, 0.10, 0.25, 0.10],
        [0.30, 0.20, 0.30, 0.10, 0.10],
        [0.20, 0.30, 0.25, 0.05, 0.20],
        [0.35, 0.20, 0.10, 0.20, 0.15],
    ]
)
PLANS = ("free", "trial", "basic", "pro")
PLAN_BY_SEGMENT = np.array(
    [
        [0.25, 0.20, 0.25, 0.30],
        [0.55, 0.20, 0.20, 0.05],
        [0.50, 0.25, 0.20, 0.05],
        [0.30, 0.10, 0.30, 0.30],
    ]
)
PLATFORMS = ("web", "ios", "android")
PLATFORM_BY_SEGMENT = np.array(
    [
        [0.30, 0.40, 0.30],
        [0.50, 0.25, 0.25],
        [0.35, 0.20, 0.45],
        [0.60, 0.25, 0.15],
    ]
)
COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IN", "BR")
COUNTRY_SHARE = np.array([0.35, 0.15, 0.12, 0.10, 0.08, 0.12, 0.08])
COUNTRY_UTC_OFFSET_HOURS = np.array([-5.0, 0.0, 1.0, 1.0, 1.0, 5.5, -3.0])

# Sessions per day while active; a lognormal spread around the segment median.
SESSION_RATE = np.array([0.34, 0.07, 0.09, 0.028])
SESSION_RATE_SIGMA = 0.45
SESSION_RATE_BY_PLATFORM = np.array([0.9, 1.15, 1.0])
SESSION_RATE_BY_PLAN = np.array([0.95, 1.1, 1.05, 1.2])

# Churn chain: active -> disengaging (rate DISENGAGE), disengaging -> churned (rate CHURN)
# or back to active (rate RECOVER). Disengaging customers keep DISENGAGED_ACTIVITY of their
# session rate; some customers start disengaged (quick churners).
DISENGAGE_RATE = np.array([1 / 420, 1 / 160, 1 / 220, 1 / 600])
DISENGAGE_BY_CHANNEL = np.array([1.0, 1.2, 1.5, 0.7, 0.9])
DISENGAGE_BY_PLAN = np.array([1.3, 1.4, 0.9, 0.6])
DISENGAGE_BY_PLATFORM = np.array([1.0, 0.9, 1.25])
DISENGAGE_BY_COUNTRY = np.array([1.0, 1.0, 0.9, 0.95, 1.0, 1.3, 1.2])
DISENGAGE_SIGMA = 0.35
CHURN_RATE = np.array([1 / 30, 1 / 25, 1 / 35, 1 / 60])
RECOVER_RATE = np.array([1 / 40, 1 / 90, 1 / 60, 1 / 90])
CHAIN_SIGMA = 0.3
DISENGAGED_ACTIVITY = 0.3
START_DISENGAGED = np.array([0.05, 0.30, 0.20, 0.10])

# Conversion: each session of a free/trial customer upgrades with this probability
# (until the first upgrade); disengaged sessions convert CONVERT_WHEN_DISENGAGED as often.
CONVERT_BY_PLAN = np.array([0.010, 0.040, 0.0, 0.0])
CONVERT_BY_SEGMENT = np.array([1.6, 0.6, 0.8, 1.2])
CONVERT_BY_CHANNEL = np.array([1.0, 0.9, 0.7, 1.3, 1.1])
CONVERT_SIGMA = 0.3
CONVERT_WHEN_DISENGAGED = 0.5

# Session content, per segment: extra page views and product views (Poisson means),
# searches, the funnel (cart, checkout | cart, purchase | checkout) and spend.
EVENTS = (
    "login",
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "checkout",
    "purchase",
    "upgrade",
    "support_contact",
    "error",
)
EVENT_CODE = {name: code for code, name in enumerate(EVENTS)}
LOGIN_PROB = 0.5
EXTRA_PAGE_VIEWS = np.array([1.5, 0.6, 1.0, 1.0])
PRODUCT_VIEWS = np.array([1.5, 0.5, 1.8, 1.0])
SEARCHES = np.array([0.6, 0.2, 0.8, 0.3])
CART_PROB = np.array([0.30, 0.06, 0.25, 0.20])
CHECKOUT_PROB = np.array([0.70, 0.50, 0.60, 0.80])
PURCHASE_PROB = np.array([0.85, 0.80, 0.75, 0.90])
SPEND_MEDIAN = np.array([45.0, 35.0, 12.0, 220.0])
SPEND_CUSTOMER_SIGMA = 0.3
SPEND_PURCHASE_SIGMA = 0.5
ERROR_PROB = 0.03
ERROR_BY_PLATFORM = np.array([1.0, 0.7, 2.0])
SUPPORT_PROB = 0.015
SUPPORT_AFTER_ERROR = 0.2
# Disengaged sessions browse less, buy less and ask support more.
DISENGAGED_BROWSING = 0.6
DISENGAGED_CART = 0.5
DISENGAGED_SUPPORT = 4.0
EVENT_GAP_MEDIAN_SECONDS = 25.0
EVENT_GAP_SIGMA = 1.0

# Hour-of-day (local time) and weekday (Monday first) activity profile.
HOUR_PROFILE = np.array(
    [
        *(0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.60, 0.90, 1.00, 1.05, 1.15),
        *(1.30, 1.25, 1.10, 1.05, 1.10, 1.25, 1.50, 1.75, 1.85, 1.70, 1.20, 0.60),
    ]
)
WEEKDAY_PROFILE = np.array([0.95, 0.95, 0.95, 1.0, 1.05, 1.15, 1.10])
