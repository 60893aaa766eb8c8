# ctest core_memory_table_in_sync (cmake -P): docs/memory.md must equal the output of
# scripts/memory_table run with the freshly built kvshare_plan, so the doc's numbers are the planner's.
#   -D SCRIPT=<scripts/memory_table> -D PLAN=<kvshare_plan binary> -D DOC=<docs/memory.md> -D OUT=<scratch file>
cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND bash "${SCRIPT}" --plan "${PLAN}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE generated ERROR_VARIABLE errors)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "scripts/memory_table failed (${rc}):\n${errors}")
endif()
file(READ "${DOC}" doc)
if(NOT generated STREQUAL doc)
  file(WRITE "${OUT}" "${generated}")
  message(FATAL_ERROR "${DOC} is out of date: regenerate it with\n"
                      "  scripts/memory_table --plan ${PLAN} > docs/memory.md\n"
                      "(see the difference: diff ${DOC} ${OUT})")
endif()
message(STATUS "${DOC} equals the output of scripts/memory_table")
