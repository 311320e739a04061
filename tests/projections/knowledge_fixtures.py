"""Twenty realistic experiments and paraphrased questions that should find each one."""

from __future__ import annotations

from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from infrastructure.application import NeonBlue

EXPERIMENTS: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    (
        "checkout-green-button",
        "Green checkout button",
        "A high-contrast green Place order button increases checkout conversion.",
        "Colour of the primary call to action on the checkout page.",
        ("checkout",),
    ),
    (
        "pricing-annual-discount",
        "Annual plan discount banner",
        "Showing 20% off annual billing on the pricing page increases paid sign-ups.",
        "Banner promoting yearly subscriptions.",
        ("pricing",),
    ),
    (
        "onboarding-checklist",
        "Mobile onboarding checklist",
        "A three-step checklist in the first session improves day-7 activation.",
        "Progress checklist in the iOS and Android apps.",
        ("onboarding", "mobile"),
    ),
    (
        "homepage-hero-video",
        "Homepage hero video",
        "An autoplay product video in the homepage hero increases sign-ups.",
        "Replace the static hero image with a short video.",
        ("homepage",),
    ),
    (
        "free-shipping-threshold",
        "Free shipping threshold",
        "Lowering the minimum order for free delivery raises order conversion.",
        "Thresholds of $50, $35 and $25.",
        ("shipping",),
    ),
    (
        "search-autocomplete",
        "Search autocomplete suggestions",
        "Suggesting queries while typing helps users find products faster.",
        "Typeahead suggestions in the site search box.",
        ("search",),
    ),
    (
        "email-subject-personalization",
        "Personalized email subject lines",
        "Including the customer's first name in newsletter subjects raises open rates.",
        "Weekly newsletter subject line test.",
        ("email",),
    ),
    (
        "push-notification-timing",
        "Push notification send time",
        "Sending reminders in the evening gets more app re-engagement than mornings.",
        "Time of day for re-engagement push messages.",
        ("mobile", "retention"),
    ),
    (
        "cart-abandonment-reminder",
        "Abandoned cart reminder",
        "An email one hour after a cart is abandoned recovers lost purchases.",
        "Reminder email with the items left in the basket.",
        ("email", "checkout"),
    ),
    (
        "product-reviews-stars",
        "Star ratings on product cards",
        "Showing average review stars on listing cards increases click-through.",
        "Social proof on category pages.",
        ("catalog",),
    ),
    (
        "dark-mode-default",
        "Dark mode by default",
        "Defaulting to a dark theme increases session length at night.",
        "Theme preference default for new users.",
        ("ui",),
    ),
    (
        "referral-bonus",
        "Referral bonus amount",
        "A $20 credit for inviting friends drives more referrals than $10.",
        "Invite-a-friend reward size.",
        ("growth",),
    ),
    (
        "signup-social-login",
        "Social login on signup",
        "Offering sign in with Google reduces registration drop-off.",
        "One-click registration with third-party accounts.",
        ("signup",),
    ),
    (
        "trial-length",
        "Free trial length",
        "A 14-day trial converts to paid better than a 30-day trial.",
        "Length of the free trial period for the pro plan.",
        ("pricing", "trial"),
    ),
    (
        "recommendation-carousel",
        "Recommended for you carousel",
        "A personalized product recommendations row on the home page increases basket size.",
        "Collaborative filtering carousel.",
        ("personalization",),
    ),
    (
        "page-speed-images",
        "Lazy-loaded images",
        "Deferring offscreen images makes pages load faster and reduces bounce.",
        "Performance: image loading strategy.",
        ("performance",),
    ),
    (
        "chatbot-support",
        "Support chatbot",
        "An automated help chat answers questions and reduces support tickets.",
        "Virtual assistant in the help centre.",
        ("support",),
    ),
    (
        "checkout-guest",
        "Guest checkout",
        "Letting customers buy without creating an account increases completed orders.",
        "Remove forced registration before payment.",
        ("checkout",),
    ),
    (
        "loyalty-points",
        "Loyalty points display",
        "Showing points earned per purchase increases repeat orders.",
        "Rewards programme visibility at checkout.",
        ("retention",),
    ),
    (
        "price-anchoring",
        "Price anchoring with a premium tier",
        "Adding an expensive enterprise plan makes the middle plan look cheaper and lifts its share.",
        "Three-tier pricing table with a decoy.",
        ("pricing",),
    ),
    (
        "video-tutorials",
        "In-app video tutorials",
        "Short how-to videos reduce churn among new customers in the first month.",
        "Tutorial library inside the product.",
        ("onboarding", "retention"),
    ),
]

PARAPHRASES: list[tuple[str, str]] = [
    ("does changing the colour of the buy button help sales?", "checkout-green-button"),
    ("yearly subscription promotion on the plans page", "pricing-annual-discount"),
    ("which test looked at typeahead in the search bar", "search-autocomplete"),
    ("using the person's name in newsletter titles", "email-subject-personalization"),
    ("what time of day should we send mobile reminders", "push-notification-timing"),
    ("recovering shoppers who left items in their basket", "cart-abandonment-reminder"),
    ("let people purchase without registering an account", "checkout-guest"),
    ("login with Google account at registration", "signup-social-login"),
    ("should the trial be two weeks or a month", "trial-length"),
    ("a bot that answers customer service questions", "chatbot-support"),
    ("cheaper delivery minimum basket value", "free-shipping-threshold"),
    ("decoy expensive plan to steer buyers to the mid tier", "price-anchoring"),
]


def create_portfolio(app: NeonBlue) -> None:
    variants = [Variant("control", "Control", 0.5), Variant("treatment", "Treatment", 0.5)]
    metrics = [Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)]
    for key, name, hypothesis, description, tags in EXPERIMENTS:
        app.create_experiment(
            key,
            name,
            hypothesis=hypothesis,
            description=description,
            tags=tags,
            variants=variants,
            metrics=metrics,
        )
