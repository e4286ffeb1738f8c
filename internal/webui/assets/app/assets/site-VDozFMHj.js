import{R as e,u as t}from"./jsxRuntime.module-CW-2jCr_.js";e(t("p",{children:"site"}),document.getElementById("app"));
