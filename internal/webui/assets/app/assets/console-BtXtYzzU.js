import{R as e,u as o}from"./jsxRuntime.module-CW-2jCr_.js";e(o("p",{children:"console"}),document.getElementById("app"));
