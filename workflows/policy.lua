-- policy.lua: the route decision of the polit workflow, kept apart from the
-- state table so that an administrator can read, in one place, exactly when a
-- case may take the visit route (DOMAIN.md section 5) and change it with a
-- reviewed deployment. Functions here receive the read-only `case` and `event`
-- views the engine passes to transitions; they never change anything, they
-- only name the next state. Facts they read were recorded by the step plugins:
--   case.data.intake   categories {A, B, C, ungraded}, frequency, priority
--   case.data.checks   the background-check booleans
--   case.data.risk     the KIRAT-style grade
--   case.data.route_decision  the supervisor's approval (and any override)
--   case.data.corroboration / case.data.hold_override  how a hold ended

local policy = {}

-- Reported frequencies that count as "very infrequent activity".
policy.infrequent = { once = true, occasional = true }

-- Every state the route decision may return (declared as `targets`).
policy.route_targets = { "visit", "enforcement", "hold" }

-- Every reason the case may NOT take the visit route; empty when it may.
-- Each condition must be positively established: a missing fact blocks.
function policy.visit_blockers(case)
  local data = case.data
  local intake = data.intake or {}
  local cats = intake.categories or {}
  local checks = data.checks or {}
  local risk = data.risk or {}
  local blockers = {}
  local function block(reason) blockers[#blockers + 1] = reason end

  local only_c = (cats.C or 0) > 0 and (cats.A or 0) == 0
    and (cats.B or 0) == 0 and (cats.ungraded or 0) == 0
  if not only_c then block("material is not category C only") end
  if not policy.infrequent[intake.frequency] then
    block("activity is not infrequent")
  end
  if risk.grade ~= "low" then block("risk grade is not low") end
  if checks.prior_history ~= false then block("history of offending") end
  if checks.registered_sex_offender ~= false then
    block("registered sex offender")
  end
  if checks.children_in_household ~= false then
    block("children in the household")
  end
  if checks.access_to_children_at_work ~= false then
    block("access to children through work")
  end
  if checks.distribution_signs ~= false then
    block("signs of distribution, production or grooming")
  end
  return blockers
end

function policy.visit_eligible(case)
  return #policy.visit_blockers(case) == 0
end

-- An uncorroborated subscriber result must not be the sole basis for a visit
-- or a warrant: corroborated at checks, or confirmed later from hold.
function policy.address_corroborated(case)
  local data = case.data
  local checks = data.checks or {}
  return checks.address_corroborated == true or data.corroboration ~= nil
end

-- The route decision, taken when a supervisor approves the assessment and
-- again when a hold ends. In order:
--   1. address not corroborated (and no exceptional hold override) -> hold;
--   2. a supervisor's override (recorded with its reason)         -> as chosen;
--   3. every visit condition holds                                -> visit;
--   4. anything else                                              -> enforcement.
function policy.route(case, event)
  local data = case.data
  if not policy.address_corroborated(case) and data.hold_override == nil then
    return "hold"
  end
  local decision = data.route_decision or {}
  if decision.override == "visit" or decision.override == "enforcement" then
    return decision.override
  end
  if policy.visit_eligible(case) then
    return "visit"
  end
  return "enforcement"
end

-- After a visit: through letter production when a warning letter was issued.
function policy.after_visit(case, event)
  if event.data.letter_issued == true then
    return "warning"
  end
  return "monitoring"
end

return policy
