# CTest fixture: writes the npm reference ids for the tokenizer corpus.
#   cmake -DNODE=... -DSOURCE_DIR=... -DOUT_DIR=... -P npm_reference.cmake
# Fails (never skips) when node or the npm packages are missing.
if(NOT NODE OR NODE MATCHES "NOTFOUND$" OR NOT EXISTS "${NODE}")
  message(FATAL_ERROR "node (Node.js) not found: run scripts/setup.sh, then re-run cmake")
endif()
set(npm_dir "${SOURCE_DIR}/node_modules")
if(DEFINED ENV{DSTAR_NPM_DIR} AND NOT "$ENV{DSTAR_NPM_DIR}" STREQUAL "")
  set(npm_dir "$ENV{DSTAR_NPM_DIR}")
  if(NOT EXISTS "${npm_dir}/@lenml")
    set(npm_dir "${npm_dir}/node_modules")
  endif()
endif()
foreach(pkg tokenizers tokenizer-deepseek_v3)
  if(NOT EXISTS "${npm_dir}/@lenml/${pkg}")
    message(FATAL_ERROR "${npm_dir}/@lenml/${pkg} not found: run scripts/setup.sh")
  endif()
endforeach()

file(REMOVE "${OUT_DIR}/npm_corpus.jsonl" "${OUT_DIR}/npm_reference.jsonl"
            "${OUT_DIR}/npm_divergences_reference.jsonl")
execute_process(
  COMMAND "${NODE}" "${SOURCE_DIR}/scripts/tokenizer/make_corpus.mjs" --out "${OUT_DIR}/npm_corpus.jsonl"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "make_corpus.mjs failed (${rc})")
endif()
execute_process(
  COMMAND "${NODE}" "${SOURCE_DIR}/scripts/tokenizer/npm_reference.mjs"
          --corpus "${OUT_DIR}/npm_corpus.jsonl" --out "${OUT_DIR}/npm_reference.jsonl"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm_reference.mjs failed (${rc}); if the npm packages are missing run scripts/setup.sh")
endif()
# The documented divergences too, so the test can check that their npm ids still hold.
execute_process(
  COMMAND "${NODE}" "${SOURCE_DIR}/scripts/tokenizer/npm_reference.mjs"
          --corpus "${SOURCE_DIR}/tests/tokenizer/npm_divergences.jsonl"
          --out "${OUT_DIR}/npm_divergences_reference.jsonl"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm_reference.mjs failed on npm_divergences.jsonl (${rc})")
endif()
