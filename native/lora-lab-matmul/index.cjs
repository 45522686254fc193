// Loads the node-gyp build of the native sgemm addon (build/Release/lora_lab_matmul.node). Throws when it was not
// built (npm drops this optional package then, so callers must catch any error from require()).
"use strict";
module.exports = require("./build/Release/lora_lab_matmul.node");
