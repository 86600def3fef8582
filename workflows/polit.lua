-- polit.lua: the workflow of an online child-protection team (DOMAIN.md),
-- version 1. A referral links an internet address to indecent images; the
-- case needs a communications-data authorisation before the subscriber is
-- resolved, background checks, a KIRAT-style risk grade signed off by a
-- supervisor, and then one of two routes: an advice visit (with or without a
-- warning letter) followed by monitoring, or enforcement (warrant, execution,
-- forensics, charging). Each state names the step plugin that does its work;
-- the route decision itself lives in policy.lua. docs/polit.md explains the
-- states, events and rules, and how to change the settings below.

local policy = require("policy")

-- ---------------------------------------------------------------------------
-- Settings an administrator may change. Deploying a changed file makes a new
-- workflow version; open cases stay on the version they started with.
-- ---------------------------------------------------------------------------

-- KIRAT-style grading: each factor that holds for a case adds its weight to
-- the score; the score's band gives the grade. Every factor must be listed
-- (0 switches one off).
local kirat = {
  weights = {
    -- previous behaviour
    prior_history = 3,
    registered_sex_offender = 5,
    -- access to children
    children_in_household = 3,
    access_to_children_at_work = 3,
    -- current facilitators (distribution, production, grooming)
    distribution_signs = 5,
    -- other factors: the most serious category in the referral, ungraded
    -- material, how often the activity was seen, the source's priority flag
    category_a = 3,
    category_b = 2,
    ungraded_material = 1,
    frequent = 2,
    occasional = 1,
    frequency_unknown = 1,
    priority = 2,
  },
  -- score >= very_high: very high; >= high: high; >= medium: medium; else low
  thresholds = { medium = 2, high = 5, very_high = 8 },
}

-- Response deadline after grading, in days (HMICFRS-reported targets).
local deadline_days = { very_high = 1, high = 7, medium = 14, low = 30 }

-- How long an address is watched after a visit before the case closes.
local monitoring_days = 365

-- PACE s.16(3): a warrant must be executed within three months of issue.
local warrant_validity_months = 3

-- Response deadline after a repeat referral escalates a case.
local escalation_response_days = 1

-- MoPI retention classes (placeholder until retention review is built): the
-- review period, in years, by how a case closed.
local retention = {
  charged = { review_years = 10 },
  cautioned = { review_years = 10 },
  outcome_21 = { review_years = 6 },
  outcome_22 = { review_years = 6 },
  nfa = { review_years = 6 },
  warned_no_further_reports = { review_years = 6 },
  advised_no_further_reports = { review_years = 6 },
  no_trace = { review_years = 2 },
  authorisation_refused = { review_years = 2 },
}

-- ---------------------------------------------------------------------------

-- Event data: a transition's `data` lists the fields people send with the
-- event and their types; anything else is refused before the step runs.
local optional_text = { type = "string", required = false }

return workflow {
  name = "polit",
  version = 1,
  initial = "intake",
  config = {
    deadline_days = deadline_days,
    monitoring_days = monitoring_days,
    retention = retention,
    -- What `caseflow report` counts (docs/polit.md): routes entered, days
    -- from referral to the first visit and warrant, and the response that
    -- meets a grade's deadline: the visit done (letter or monitoring) or the
    -- warrant executed (forensics), or the case closed.
    report = {
      routes = { "visit", "warning", "monitoring", "hold", "enforcement", "warrant" },
      milestones = { "visit", "warrant" },
      response = { "warning", "monitoring", "forensics", "closed" },
      grade = "risk.grade",
      flags = {
        overrides = "route.override",
        exceptional_holds = "route.exceptional",
        safeguarding = "safeguarding",
      },
    },
  },
  assets = { "letters/warning.txt" },

  states = {
    -- Transient: validate the referral, add account and hash keys.
    intake = {
      step = "referral",
      config = { allow_unknown_fields = false, max_items = 1000 },
      on = { accepted = "authorisation" },
    },

    -- A communications-data authorisation before any subscriber request.
    authorisation = {
      step = "authorisation",
      roles = { "officer", "authoriser" },
      on = {
        ["authorisation.applied"] = {
          to = "authorisation",
          roles = { "officer" },
          data = {
            necessity = "string",
            proportionality = "string",
            legal_basis = optional_text,
          },
        },
        ["authorisation.granted"] = {
          to = "subscriber",
          roles = { "authoriser" },
          four_eyes = "authorisation.applied", -- never the applicant
          data = { authority = "string", reference = "string", urgent = "boolean" },
        },
        ["authorisation.refused"] = {
          to = "closed",
          roles = { "authoriser" },
          data = { reason = "string" },
        },
      },
    },

    -- The provider's answer: who had the address at that exact time.
    subscriber = {
      step = "subscriber",
      roles = { "officer", "analyst" },
      on = {
        ["subscriber.resolved"] = "checks",
        ["subscriber.no_trace"] = "closed",
      },
    },

    -- Intelligence and background checks; MASH task when children at risk.
    checks = {
      step = "checks",
      roles = { "analyst" },
      on = { ["checks.completed"] = "assessment" },
    },

    -- Graded on entry; the supervisor's approval takes the route decision.
    assessment = {
      step = "assessment",
      roles = { "supervisor" },
      config = {
        weights = kirat.weights,
        thresholds = kirat.thresholds,
        deadline_days = deadline_days,
      },
      on = {
        ["assessment.approved"] = {
          to = policy.route,
          targets = policy.route_targets,
          data = { override = optional_text, reason = optional_text },
        },
      },
    },

    -- An uncorroborated address waits here.
    hold = {
      step = "hold",
      roles = { "officer", "supervisor" },
      on = {
        ["corroboration.confirmed"] = {
          to = policy.route,
          targets = policy.route_targets,
          roles = { "officer" },
          data = { method = "string", notes = optional_text },
        },
        ["hold.override"] = {
          to = policy.route,
          targets = policy.route_targets,
          roles = { "supervisor" },
          data = { reason = "string" },
        },
      },
    },

    -- The lowest-risk route: advice, perhaps a warning letter.
    visit = {
      step = "visit",
      roles = { "officer" },
      on = {
        ["visit.completed"] = {
          to = policy.after_visit,
          targets = { "warning", "monitoring" },
          data = {
            advice_given = "boolean",
            letter_issued = "boolean",
            security_advice = "boolean",
            signposted = "boolean",
            notes = optional_text,
          },
        },
        ["visit.no_answer"] = { to = "visit", data = { notes = optional_text } },
        ["visit.concern"] = { to = "enforcement", data = { reason = "string" } },
        repeat_referral = { to = "escalation", system = true },
      },
    },

    -- Transient: render the letter from letters/warning.txt.
    warning = {
      step = "warning",
      config = {
        template = "letters/warning.txt",
        helpline = "Stop It Now",
        force = "Example Constabulary",
      },
      on = { produced = "monitoring" },
    },

    -- The address is watched; a further report escalates.
    monitoring = {
      step = "monitoring",
      timer = { days = monitoring_days, event = "monitoring.expired" },
      on = {
        ["monitoring.expired"] = { to = "closed", system = true },
        repeat_referral = { to = "escalation", system = true },
      },
    },

    -- Transient: a repeat referral met the case; task, notice, deadline.
    escalation = {
      step = "escalation",
      config = { response_days = escalation_response_days },
      on = { escalated = "enforcement" },
    },

    -- The enforcement route.
    enforcement = {
      step = "enforcement",
      roles = { "officer" },
      config = { validity_months = warrant_validity_months },
      on = { ["warrant.issued"] = "warrant" },
    },

    warrant = {
      step = "warrant",
      roles = { "officer" },
      on = {
        ["warrant.executed"] = "forensics",
        ["warrant.expired"] = { to = "enforcement", system = true },
      },
    },

    forensics = {
      step = "forensics",
      roles = { "officer" },
      on = { ["forensics.completed"] = "charging" },
    },

    charging = {
      step = "charging",
      roles = { "supervisor" },
      on = {
        ["outcome.recorded"] = {
          to = "closed",
          data = { outcome = "string", notes = optional_text },
        },
      },
    },

    -- Every case that gets here carries data.outcome.
    closed = { final = true },
  },
}
