local M = {}
function M.pick(case)
  if case.data.priority then return "visit" end
  return "closed"
end
return M
