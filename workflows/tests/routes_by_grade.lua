-- The route decision (policy.lua) and the deadlines by grade (DOMAIN.md 4
-- and 5). The visit route needs every condition; each case here breaks
-- exactly one, or none, and the KIRAT-style grade sets the response
-- deadline from assessment: low 30 days, medium 14, high 7, very high 1.
local p = require("_polit")

local function c(changes) return p.checks(changes) end

return {
  name = "routes and deadlines by grade",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  steps = p.steps(
    -- category C, once, nothing known: low, 30 days, visit
    p.routed("+1h", "low", p.referral("SCN-G-LOW"), c(), "1 Low Road",
      "low", "+30d1h", "visit"),
    -- "occasional" still counts as very infrequent: low (score 1), visit
    p.routed("+2h", "occasional", p.referral("SCN-G-OCC", { frequency = "occasional" }),
      c(), "2 Low Road", "low", "+30d2h", "visit"),
    -- children in the household: medium (3), 14 days, enforcement
    p.routed("+3h", "children", p.referral("SCN-G-CHILD"),
      c({ children_in_household = true }), "3 Road", "medium", "+14d3h", "enforcement"),
    -- children may be at risk: a MASH safeguarding referral for an officer
    { { case = "children", expect = {
        tasks = { { kind = "mash_referral", role = "officer", status = "open" } },
        data = { ["safeguarding.reasons"] = { "children_in_household" } } } } },
    -- access to children through work: medium, enforcement
    p.routed("+4h", "work", p.referral("SCN-G-WORK"),
      c({ access_to_children_at_work = true }), "4 Road", "medium", "+14d4h", "enforcement"),
    -- a history of offending: medium, enforcement
    p.routed("+5h", "history", p.referral("SCN-G-HIST"),
      c({ prior_history = true }), "5 Road", "medium", "+14d5h", "enforcement"),
    -- a registered sex offender: high (5), 7 days, enforcement
    p.routed("+6h", "rso", p.referral("SCN-G-RSO"),
      c({ registered_sex_offender = true }), "6 Road", "high", "+7d6h", "enforcement"),
    -- signs of distribution: high, enforcement
    p.routed("+7h", "distribution", p.referral("SCN-G-DIST"),
      c({ distribution_signs = true }), "7 Road", "high", "+7d7h", "enforcement"),
    -- a history and children: high (6), enforcement
    p.routed("+8h", "high", p.referral("SCN-G-HIGH"),
      c({ prior_history = true, children_in_household = true }), "8 Road",
      "high", "+7d8h", "enforcement"),
    -- offender with signs of distribution: very high (10), 1 day
    p.routed("+9h", "very_high", p.referral("SCN-G-VHIGH"),
      c({ registered_sex_offender = true, distribution_signs = true }), "9 Road",
      "very_high", "+1d9h", "enforcement"),
    -- category B material: medium (2), not category C only: enforcement
    p.routed("+10h", "category_b", p.referral("SCN-G-CATB", { category = "B" }),
      c(), "10 Road", "medium", "+14d10h", "enforcement"),
    -- ungraded material only: low (1), yet not category C only: enforcement
    p.routed("+11h", "ungraded", p.referral("SCN-G-UNGR", { category = false }),
      c(), "11 Road", "low", "+30d11h", "enforcement"),
    -- frequent activity: medium (2), not infrequent: enforcement
    p.routed("+12h", "frequent", p.referral("SCN-G-FREQ", { frequency = "frequent" }),
      c(), "12 Road", "medium", "+14d12h", "enforcement"),
    -- the source's priority flag: medium (2), grade not low: enforcement
    p.routed("+13h", "priority", p.referral("SCN-G-PRIO", { priority = true }),
      c(), "13 Road", "medium", "+14d13h", "enforcement")
  ),
}
