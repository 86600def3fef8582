-- Policy helpers for the synthetic good workflow.
local M = {}

function M.visit_eligible(case)
  local risk = case.data.risk
  return risk ~= nil and risk.grade == "high"
end

return M
